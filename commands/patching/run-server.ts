import { validatePins } from '../../integrations/os/index.js';
import type { ShellFamily } from '../../integrations/os/types.js';
import type { InstallItem, Target } from '../../integrations/targets/types.js';
import { listOpenFindingsOfServer } from '../../storage/findings.js';
import type { PreviousState } from '../../storage/patch-runs.js';
import type { PlanItemRow } from '../../storage/patching.js';
import { scanServer } from '../scanning/run-scan.js';
import { rollBack } from './rollback.js';
import { errorText, type RunContext, type ServerJob } from './run-context.js';
import { createMover, LostServerError, type Mover, type ServerOutcome } from './run-mover.js';
import {
  bootId,
  latestHistoryId,
  rebootWanted,
  requestReboot,
  runCheck,
  runPolicyCommand,
  type StepResult,
  takeBackup,
  waitForReturn,
} from './run-steps.js';
import {
  type Comparison,
  compareByFindings,
  compareInstalled,
  describeMismatch,
  installedVersions,
  itemKey,
  readsPackageDatabase,
  sameVersion,
  shellFamilyOf,
} from './run-versions.js';

/**
 * One server's patch: backup, pre-commands, install of exactly the plan's versions, reboot per
 * rule, post-commands, checks, and a rescan that confirms the versions. Each state is written
 * before its step starts; a server found mid-way after a restart carries on from its state, and one
 * that was installing is first checked, so nothing is installed twice.
 */

export { LostServerError, type ServerOutcome } from './run-mover.js';

interface Work {
  ctx: RunContext;
  job: ServerJob;
  m: Mover;
  target: Target;
  family: ShellFamily | undefined;
}

function installItems(items: readonly PlanItemRow[]): InstallItem[] {
  return items.map((i) => ({
    package: i.package,
    version: i.toVersion,
    ...(i.arch ? { arch: i.arch } : {}),
  }));
}

/** What the server has now, from its package database (shell) or a rescan (cloud). */
async function compareNow(w: Work, items: readonly PlanItemRow[], rescan: boolean): Promise<Comparison> {
  const previous = new Map((w.m.previous?.packages ?? []).map((p) => [itemKey(p), p.version]));
  if (rescan) {
    // Confirmation means a rescan: recorded like any scan, so findings and compliance move at once.
    const outcome = await scanServer(w.ctx.deps, w.ctx.targets, w.job.server, {
      batchId: null,
      triggeredBy: 'patch-run',
    });
    if (outcome.status === 'failed')
      throw new Error(`the confirming rescan failed: ${outcome.errorMessage ?? outcome.errorKind}`);
  }
  const installed = await installedVersions(w.target, w.family, items);
  if (installed) return compareInstalled(items, installed, previous);
  if (!rescan) {
    const scan = await w.target.scan();
    return compareByFindings(
      items,
      scan.findings.map((f) => ({
        ...f,
        arch: f.arch ?? '',
        source: null,
        advisories: [],
        rebootRequired: false,
      })),
    );
  }
  const open = await listOpenFindingsOfServer(w.ctx.deps.sql, w.job.server.id, 10_000);
  return compareByFindings(items, open);
}

/** The versions to go back to, written with the `installing` state before anything is installed. */
async function recordPrevious(w: Work, snapshotId: string | undefined): Promise<PreviousState> {
  const installed = await installedVersions(w.target, w.family, w.job.items);
  const packages = w.job.items.map((i) => ({
    package: i.package,
    arch: i.arch,
    version: installed?.get(itemKey(i)) ?? i.fromVersion,
  }));
  const historyBefore =
    w.family === 'rhel' && readsPackageDatabase(w.target) ? await latestHistoryId(w.target) : undefined;
  return {
    packages,
    ...(historyBefore !== undefined ? { historyBefore } : {}),
    ...(snapshotId ? { snapshotId } : {}),
  };
}

async function install(w: Work, items: readonly PlanItemRow[]): Promise<StepResult> {
  const started = performance.now();
  const result = await w.target.install(installItems(items), {
    ...(w.family ? { family: w.family } : {}),
    ...(w.ctx.installTimeoutMs ? { timeoutMs: w.ctx.installTimeoutMs } : {}),
  });
  const failed = result.items.filter((i) => i.status === 'failed');
  const ms = Math.round(performance.now() - started);
  if (result.failure || failed.length > 0) {
    const detail = failed[0]?.detail ?? result.exec.stderr;
    return { ok: false, detail: `the install failed (${result.failure ?? 'command-failed'}): ${detail}`, ms };
  }
  return { ok: true, detail: `installed ${items.map((i) => `${i.package} ${i.toVersion}`).join(', ')}`, ms };
}

/** A failure after the install started: roll back if anything changed, else simply failed. */
async function failAfterInstall(w: Work, detail: string): Promise<ServerOutcome> {
  return rollBack(w.ctx, w.job, w.m, w.target, w.family, detail);
}

async function installPhase(w: Work, snapshotId: string | undefined): Promise<ServerOutcome | undefined> {
  let pending: readonly PlanItemRow[] = w.job.items;
  if (w.m.state === 'installing') {
    // Resumed: the last process may have died during or after the install. Look before acting.
    const seen = await compareNow(w, w.job.items, false);
    pending = [...seen.atPrevious, ...seen.other.map((o) => o.item)] as PlanItemRow[];
    if (pending.length === 0) {
      await w.m.to('installing', [
        { ok: true, detail: 'found installed after a restart; not installed again' },
      ]);
      return undefined;
    }
  } else {
    const previous = await recordPrevious(w, snapshotId);
    const already = new Set(
      w.job.items
        .filter((i) =>
          previous.packages.some((p) => itemKey(p) === itemKey(i) && sameVersion(p.version, i.toVersion)),
        )
        .map(itemKey),
    );
    await w.m.to('installing', [], { previousVersions: previous });
    pending = w.job.items.filter((i) => !already.has(itemKey(i)));
    if (pending.length === 0) return undefined;
  }
  const result = await install(w, pending).catch((error: unknown) => ({
    ok: false,
    detail: `the install failed: ${errorText(error)}`,
    ms: 0,
  }));
  if (result.ok) {
    await w.m.to('installing', [result]);
    return undefined;
  }
  return failAfterInstall(w, result.detail);
}

async function rebootPhase(
  w: Work,
  resumed: boolean,
): Promise<{ outcome?: ServerOutcome; deferred?: boolean }> {
  let before: string | null;
  if (resumed) {
    const last = [...w.m.steps]
      .reverse()
      .find((s) => s.state === 'rebooting' && s.data && 'bootId' in s.data);
    before = (last?.data?.bootId as string | null | undefined) ?? null;
    const now = await bootId(w.target);
    // Died before the reboot was asked for: ask now. Back with a new boot id: carry on.
    if (now !== null && now === before) await requestReboot(w.target);
    else if (now !== null) return {};
  } else {
    if (!(await rebootWanted(w.ctx, w.target, w.family, w.job.items))) return {};
    if (w.target.provider === 'local') {
      await w.m.to('installing', [
        {
          ok: true,
          detail: 'a reboot is due, but Warden never reboots the machine it runs on; reboot it by hand',
        },
      ]);
      return {};
    }
    if (w.ctx.policy.reboot.when === 'end-of-window') return { deferred: true };
    before = await bootId(w.target);
    await w.m.to('rebooting', [
      { ok: true, detail: 'reboot requested', about: 'rebooting', data: { bootId: before } },
    ]);
    await requestReboot(w.target);
  }
  const back = await waitForReturn(w.ctx, w.target, before);
  if (back.ok) {
    await w.m.to('rebooting', [back]);
    return {};
  }
  // An unreachable server cannot be rolled back; say so and move on.
  return {
    outcome: await w.m.finish('failed', { ...back, detail: `rebooted and ${back.detail}` }, { thread: true }),
  };
}

async function drive(w: Work): Promise<ServerOutcome> {
  const { ctx, m } = w;
  if (m.state === 'rolling-back') {
    return rollBack(ctx, w.job, m, w.target, w.family, w.job.row.error ?? 'rolling back after a restart');
  }
  const order = ['pending', 'backing-up', 'pre', 'installing', 'rebooting', 'post', 'checking', 'confirming'];
  let at = order.indexOf(m.state);
  // Nothing is installed before `installing`: a server stopped there starts over, backup included.
  if (at < 3) at = 0;
  let snapshotId = m.previous?.snapshotId;
  // Where Warden builds the package manager's commands itself, every name and version is checked
  // against that package manager's rules before anything runs (cloud APIs check their own).
  if (w.family && readsPackageDatabase(w.target)) validatePins(w.family, installItems(w.job.items));
  if (at === 0) {
    await m.to('backing-up', [], { newAttempt: true, error: null });
    const backup = await takeBackup(ctx, w.target, 'before');
    if (backup && !backup.ok)
      return m.finish(
        'failed',
        { ...backup, detail: `backup before the install failed: ${backup.detail}` },
        { thread: true },
      );
    snapshotId = backup?.data?.snapshotId as string | undefined;
    await m.to('pre', backup ? [backup] : [{ ok: true, detail: 'no backup asked for' }]);
    for (const argv of ctx.policy.preCommands) {
      const result = await runPolicyCommand(ctx, w.target, argv, 'pre-command');
      if (!result.ok) return m.finish('failed', result, { thread: true });
      m.note(result);
    }
    at = 3;
  }
  if (at === 3) {
    const failed = await installPhase(w, snapshotId);
    if (failed) return failed;
  }
  let deferred = false;
  if (at <= 4) {
    const reboot = await rebootPhase(w, at === 4);
    if (reboot.outcome) return reboot.outcome;
    deferred = reboot.deferred === true;
  }
  if (at <= 5) {
    await m.to('post');
    for (const argv of ctx.policy.postCommands) {
      const result = await runPolicyCommand(ctx, w.target, argv, 'post-command');
      if (!result.ok) return failAfterInstall(w, result.detail);
      m.note(result);
    }
  }
  if (at <= 6) {
    await m.to('checking');
    for (const check of ctx.policy.checks) {
      const result = await runCheck(ctx, w.target, check);
      if (!result.ok) return failAfterInstall(w, result.detail);
      m.note(result);
    }
  }
  await m.to('confirming');
  let comparison: Comparison;
  try {
    comparison = await compareNow(w, w.job.items, true);
  } catch (error) {
    return failAfterInstall(w, errorText(error));
  }
  if (comparison.atPrevious.length > 0 || comparison.other.length > 0) {
    return failAfterInstall(
      w,
      `the rescan does not show the planned versions: ${describeMismatch(comparison)}`,
    );
  }
  const after = await takeBackup(ctx, w.target, 'after');
  const note = after && !after.ok ? `; the backup after the install failed: ${after.detail}` : '';
  return m.finish(
    'succeeded',
    {
      ok: true,
      detail: `confirmed by rescan: ${w.job.items.length} package(s) at the planned versions${note}`,
      ...(deferred ? { data: { rebootDeferred: true } } : {}),
    },
    { rebootDeferred: deferred, ...(deferred ? { data: { rebootDeferred: true } } : {}) },
  );
}

/** Patches one server from wherever its state says it stands; a LostServerError means another process owns it. */
export async function patchServer(ctx: RunContext, job: ServerJob): Promise<ServerOutcome> {
  const m = createMover(ctx, job);
  let target: Target;
  try {
    target = await ctx.targets.forServer(job.server, ctx.deps);
  } catch (error) {
    return m.finish(
      'failed',
      { ok: false, detail: `Warden could not reach it: ${errorText(error)}` },
      { thread: true },
    );
  }
  try {
    return await drive({ ctx, job, m, target, family: shellFamilyOf(job.items[0]?.osFamily) });
  } catch (error) {
    if (error instanceof LostServerError) throw error;
    // A step that threw instead of failing cleanly: past the install, roll back; before it, fail.
    const detail = errorText(error);
    if (['installing', 'rebooting', 'post', 'checking', 'confirming'].includes(m.state)) {
      return rollBack(ctx, job, m, target, shellFamilyOf(job.items[0]?.osFamily), detail);
    }
    if (m.state === 'rolling-back') return m.finish('failed', { ok: false, detail });
    return m.finish('failed', { ok: false, detail }, { thread: true });
  } finally {
    await target.close().catch(() => {});
  }
}
