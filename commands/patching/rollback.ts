import { z } from 'zod';
import { historyUndoCommand, rollbackCommands } from '../../integrations/os/index.js';
import type { CommandSpec, PackagePin, ShellFamily } from '../../integrations/os/types.js';
import type { Target } from '../../integrations/targets/types.js';
import { withTx } from '../../storage/db.js';
import type { PreviousState } from '../../storage/patch-runs.js';
import { changeServerState } from '../../storage/patch-runs.js';
import { getUser } from '../../storage/users.js';
import { openApproval } from '../approvals/open.js';
import type { ApprovalSubject } from '../approvals/subjects.js';
import { loadActor } from '../rbac/authorize.js';
import { clip, errorText, type RunContext, type ServerJob } from './run-context.js';
import { LostServerError, type Mover, type ServerOutcome } from './run-mover.js';
import { recordRunEvent } from './run-notify.js';
import { latestHistoryId } from './run-steps.js';
import { installedVersions, itemKey, readsPackageDatabase, sameVersion } from './run-versions.js';

/**
 * Rolling a failed server back: reinstall the recorded previous versions where the package
 * manager can (apt, zypper, apk with version pins; `dnf history undo` of the install's own
 * transaction on RPM systems), checked afterwards against the package database. Where that is not
 * possible but a snapshot was taken, restoring it needs an approval ('patch-restore').
 */

export const PATCH_RESTORE_SUBJECT = 'patch-restore';

interface UndoResult {
  ok: boolean;
  detail: string;
  /** How many packages had changed (0: the server was left as it was). */
  changed: number;
}

async function runSpecs(target: Target, specs: readonly CommandSpec[]): Promise<string | undefined> {
  for (const spec of specs) {
    const result = await target.exec(spec.argv, {
      env: { ...spec.env },
      sudo: spec.sudo,
      timeoutMs: spec.timeoutSeconds * 1000,
    });
    if (result.exitCode !== 0 || result.timedOut) {
      const tail = clip(`${result.stderr}\n${result.stdout}`.trim(), 300);
      return `${spec.description} failed (exit ${result.exitCode ?? result.signal ?? 'timeout'}): ${tail}`;
    }
  }
  return undefined;
}

async function undoOnShell(
  target: Target,
  family: ShellFamily,
  job: ServerJob,
  previous: PreviousState,
): Promise<UndoResult> {
  const before = new Map(previous.packages.map((p) => [itemKey(p), p.version]));
  const installed = await installedVersions(target, family, job.items);
  if (!installed) return { ok: false, detail: 'the package database could not be read', changed: 0 };
  const changed = job.items.filter(
    (i) => !sameVersion(installed.get(itemKey(i)), before.get(itemKey(i)) ?? i.fromVersion),
  );
  if (changed.length === 0) return { ok: true, detail: 'nothing had changed on the server', changed: 0 };
  let failure: string | undefined;
  let how: string;
  const latest =
    family === 'rhel' && previous.historyBefore !== undefined ? await latestHistoryId(target) : undefined;
  if (latest !== undefined && previous.historyBefore !== undefined && latest > previous.historyBefore) {
    // The install's own transaction is the first one after the id recorded before it.
    const id = previous.historyBefore + 1;
    how = `dnf history undo ${id}`;
    failure = await runSpecs(target, [historyUndoCommand(id)]);
  } else {
    const pins: PackagePin[] = changed.map((i) => ({
      package: i.package,
      version: before.get(itemKey(i)) || i.fromVersion,
      ...(i.arch ? { arch: i.arch } : {}),
    }));
    how = `reinstalled ${pins.map((p) => `${p.package} ${p.version}`).join(', ')}`;
    failure = await runSpecs(target, rollbackCommands(family, pins));
  }
  if (failure) return { ok: false, detail: `the rollback failed: ${failure}`, changed: changed.length };
  const after = await installedVersions(target, family, job.items);
  const left = job.items.filter(
    (i) => !sameVersion(after?.get(itemKey(i)), before.get(itemKey(i)) ?? i.fromVersion),
  );
  if (left.length > 0) {
    return {
      ok: false,
      detail: `the rollback (${how}) left ${left.map((i) => `${i.package} at ${after?.get(itemKey(i)) ?? 'nothing'}`).join(', ')}`,
      changed: changed.length,
    };
  }
  return { ok: true, detail: `rolled back: ${how}`, changed: changed.length };
}

/** Asks approvers to restore the snapshot; the server ends failed until someone acts on it. */
async function requestRestore(
  ctx: RunContext,
  job: ServerJob,
  m: Mover,
  snapshotId: string,
  why: string,
): Promise<ServerOutcome> {
  const requester =
    ctx.plan.createdBy === null ? undefined : await getUser(ctx.deps.sql, ctx.plan.createdBy!);
  if (!requester) {
    return m.finish(
      'failed',
      {
        ok: false,
        detail: `${why}. Snapshot ${snapshotId} was taken before the install: restore it by hand.`,
      },
      { thread: true },
    );
  }
  const actor = await loadActor(ctx.deps.sql, requester, 'job');
  const detail = `${why}. Restoring snapshot ${snapshotId} waits for approval`;
  const at = ctx.deps.clock.now();
  const approvalId = await withTx(ctx.deps.sql, async (tx) => {
    const moved = await changeServerState(tx, {
      owner: ctx.owner,
      planId: ctx.plan.id,
      serverId: job.server.id,
      from: m.state,
      to: 'failed',
      at,
      error: clip(detail),
      steps: [{ at: at.toISOString(), state: 'rolling-back', ok: false, detail: clip(detail) }],
    });
    if (!moved) return undefined;
    const opened = await openApproval(tx, ctx.deps, {
      subject: { type: PATCH_RESTORE_SUBJECT, id: `${ctx.plan.id}:${job.server.id}` },
      projectId: ctx.plan.projectId,
      requester: actor,
      permission: 'patch:approve',
      title: `Restore ${job.server.name} from snapshot (patch plan #${ctx.plan.id} failed there)`,
      details: [
        { label: 'Server', value: job.server.name },
        { label: 'Snapshot', value: snapshotId },
        { label: 'Why', value: clip(why, 500) },
      ],
      data: { planId: ctx.plan.id, serverId: job.server.id, server: job.server.name, snapshotId },
    });
    await recordRunEvent(tx, ctx.deps, {
      actor: ctx.actor,
      action: 'patch.server-failed',
      planId: ctx.plan.id,
      projectId: ctx.plan.projectId,
      data: {
        server: job.server.name,
        state: 'failed',
        error: clip(detail),
        restoreApprovalId: opened.request.id,
      },
      thread: {
        visibility: 'public',
        tone: 'warning',
        text: clip(`${job.server.name}: failed. ${detail} #${opened.request.id}.`, 1500),
      },
    });
    return opened.request.id;
  });
  if (approvalId === undefined) throw new LostServerError(job.server.name);
  return { serverId: job.server.id, serverName: job.server.name, state: 'failed', error: clip(detail) };
}

/**
 * Rolls a server back after `reason`. Ends 'rolled-back' when the previous versions are back,
 * 'failed' otherwise (nothing had changed, the rollback failed, or the provider cannot), with a
 * snapshot restore put to approval when one was taken.
 */
export async function rollBack(
  ctx: RunContext,
  job: ServerJob,
  m: Mover,
  target: Target,
  family: ShellFamily | undefined,
  reason: string,
): Promise<ServerOutcome> {
  if (m.state !== 'rolling-back')
    await m.to('rolling-back', [{ ok: false, detail: reason }], { error: clip(reason) });
  const previous = m.previous;
  let undo: UndoResult | undefined;
  if (family && previous && readsPackageDatabase(target)) {
    try {
      undo = await undoOnShell(target, family, job, previous);
    } catch (error) {
      undo = { ok: false, detail: `the rollback failed: ${errorText(error)}`, changed: 1 };
    }
    if (undo.ok && undo.changed > 0)
      return m.finish('rolled-back', { ok: true, detail: `${reason}; ${undo.detail}` }, { thread: true });
    if (undo.ok)
      return m.finish('failed', { ok: false, detail: `${reason}; ${undo.detail}` }, { thread: true });
  }
  const why = undo
    ? `${reason}; ${undo.detail}`
    : `${reason}; ${target.provider} servers are not rolled back by reinstalling packages`;
  if (previous?.snapshotId) return requestRestore(ctx, job, m, previous.snapshotId, why);
  return m.finish('failed', { ok: false, detail: `${why}. Roll it back by hand.` }, { thread: true });
}

const RestoreData = z.object({
  planId: z.number().int().positive(),
  serverId: z.number().int().positive(),
  server: z.string(),
  snapshotId: z.string(),
});

/**
 * The approval of a snapshot restore. No Target can swap a disk yet, so an approval records the
 * decision and tells the thread and the change request exactly what to restore; a denial leaves
 * the server as it is.
 */
export const patchRestoreSubject: ApprovalSubject = {
  type: PATCH_RESTORE_SUBJECT,
  async onApproved(tx, deps, request, context) {
    const data = RestoreData.parse(request.details.data);
    const text = `Restore of ${data.server} from snapshot ${data.snapshotId} approved (approval #${request.id}). Restore the OS disk from that snapshot in the provider's console, then rescan the server.`;
    await recordRunEvent(tx, deps, {
      actor: context.actor,
      action: 'patch.restore-approved',
      planId: data.planId,
      projectId: request.projectId,
      data: { server: data.server, snapshotId: data.snapshotId, approvalId: request.id },
      thread: { visibility: 'public', tone: 'info', text },
      ticket: { text },
    });
  },
  async onDenied(tx, deps, request, context) {
    const data = RestoreData.parse(request.details.data);
    await recordRunEvent(tx, deps, {
      actor: context.actor,
      action: 'patch.restore-denied',
      planId: data.planId,
      projectId: request.projectId,
      data: { server: data.server, snapshotId: data.snapshotId, approvalId: request.id },
      thread: {
        visibility: 'public',
        text: `Restore of ${data.server} from snapshot ${data.snapshotId} denied; the server stays as it is.`,
      },
    });
  },
};
