import { historyListCommand } from '../../integrations/os/index.js';
import type { ShellFamily } from '../../integrations/os/types.js';
import type { ExecResult, Target } from '../../integrations/targets/types.js';
import type { PlanItemRow } from '../../storage/patching.js';
import type { Check } from './policy.js';
import { clip, errorText, type RunContext } from './run-context.js';
import { readsPackageDatabase } from './run-versions.js';

/**
 * The steps of one server's patch that talk to the server: policy commands and checks (always an
 * argv, never a shell string), backups, the reboot and the wait for the host to come back.
 */

export interface StepResult {
  ok: boolean;
  detail: string;
  ms: number;
  data?: Record<string, unknown>;
}

function outputTail(result: ExecResult): string {
  return clip(`${result.stderr}\n${result.stdout}`.trim(), 300);
}

function exitText(result: ExecResult): string {
  if (result.timedOut) return 'timed out';
  return result.exitCode === null ? `ended by ${result.signal ?? 'a signal'}` : `exit ${result.exitCode}`;
}

/** A policy command (pre, post, backup), as root: these stop services, flush caches, dump databases. */
export async function runPolicyCommand(
  ctx: RunContext,
  target: Target,
  argv: readonly string[],
  what: string,
): Promise<StepResult> {
  const started = performance.now();
  try {
    const result = await target.exec(argv, { sudo: true, timeoutMs: ctx.commandTimeoutMs });
    const ok = result.exitCode === 0 && !result.timedOut;
    const tail = outputTail(result);
    return {
      ok,
      detail: `${what} \`${clip(argv.join(' '), 120)}\`: ${exitText(result)}${tail ? ` (${tail})` : ''}`,
      ms: Math.round(performance.now() - started),
    };
  } catch (error) {
    return {
      ok: false,
      detail: `${what} could not run: ${errorText(error)}`,
      ms: Math.round(performance.now() - started),
    };
  }
}

/** A post-install check: the exit code it must end with, and text its output must contain. */
export async function runCheck(ctx: RunContext, target: Target, check: Check): Promise<StepResult> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  try {
    const result = await target.exec(check.argv, { sudo: true, timeoutMs: ctx.commandTimeoutMs });
    const wanted = check.expect.exitCode;
    if (result.timedOut || result.exitCode !== wanted) {
      return {
        ok: false,
        detail: `check "${check.name}" failed: ${exitText(result)}, expected exit ${wanted}${outputTail(result) ? ` (${outputTail(result)})` : ''}`,
        ms: ms(),
      };
    }
    const needle = check.expect.stdoutIncludes;
    if (needle !== undefined && !result.stdout.includes(needle)) {
      return {
        ok: false,
        detail: `check "${check.name}" failed: the output does not contain "${clip(needle, 80)}" (it said: ${clip(result.stdout, 160) || 'nothing'})`,
        ms: ms(),
      };
    }
    return { ok: true, detail: `check "${check.name}" passed`, ms: ms() };
  } catch (error) {
    return { ok: false, detail: `check "${check.name}" could not run: ${errorText(error)}`, ms: ms() };
  }
}

/**
 * A backup before or after the install, as the policy says: a disk snapshot where the provider
 * has them, else the project's backup command. Asked for and impossible is a failure: a server is
 * never patched without the backup its policy promises.
 */
export async function takeBackup(
  ctx: RunContext,
  target: Target,
  when: 'before' | 'after',
): Promise<StepResult | undefined> {
  const how = ctx.policy.backups[when];
  if (!how) return undefined;
  const started = performance.now();
  if (how === 'command') {
    const command = ctx.policy.backups.command;
    if (!command) return { ok: false, detail: 'the policy asks for a backup command but names none', ms: 0 };
    return runPolicyCommand(ctx, target, command, `backup ${when}`);
  }
  if (!target.snapshot) {
    return {
      ok: false,
      detail: `the policy asks for a snapshot ${when} the install, and ${target.provider} servers have none; set backups.${when} to "command" with a backup command instead`,
      ms: 0,
    };
  }
  try {
    const snap = await target.snapshot({
      label: `warden-p${ctx.plan.id}-${when === 'before' ? 'pre' : 'post'}`,
    });
    return {
      ok: true,
      detail: `snapshot ${snap.id} taken`,
      ms: Math.round(performance.now() - started),
      data: { snapshotId: snap.id },
    };
  } catch (error) {
    return {
      ok: false,
      detail: `the snapshot failed: ${errorText(error)}`,
      ms: Math.round(performance.now() - started),
    };
  }
}

/** Does the server ask for a reboot now (Debian's flag file, RHEL's needs-restarting)? */
async function rebootRequiredNow(target: Target, family: ShellFamily | undefined): Promise<boolean> {
  if (!readsPackageDatabase(target)) return false;
  try {
    if (family === 'debian') {
      return (
        (await target.exec(['test', '-e', '/var/run/reboot-required'], { timeoutMs: 30_000 })).exitCode === 0
      );
    }
    if (family === 'rhel') {
      return (
        (await target.exec(['needs-restarting', '-r'], { sudo: true, timeoutMs: 60_000 })).exitCode === 1
      );
    }
  } catch {
    // Unknown is not a reason to reboot; the plan's reboot_expected still counts.
  }
  return false;
}

export async function rebootWanted(
  ctx: RunContext,
  target: Target,
  family: ShellFamily | undefined,
  items: readonly PlanItemRow[],
): Promise<boolean> {
  const rule = ctx.policy.reboot.rule;
  if (rule === 'never') return false;
  if (rule === 'always') return true;
  return items.some((i) => i.rebootExpected) || (await rebootRequiredNow(target, family));
}

/** The kernel's boot id: it changes on every boot, so it tells a finished reboot from a slow one. */
export async function bootId(target: Target): Promise<string | null> {
  try {
    const result = await target.exec(['cat', '/proc/sys/kernel/random/boot_id'], { timeoutMs: 30_000 });
    const id = result.stdout.trim();
    return result.exitCode === 0 && /^[0-9a-f-]{8,64}$/.test(id) ? id : null;
  } catch {
    return null;
  }
}

/** Asks the server to reboot. The connection usually drops before an answer: that is not an error. */
export async function requestReboot(target: Target): Promise<void> {
  try {
    const result = await target.exec(['systemctl', 'reboot'], { sudo: true, timeoutMs: 60_000 });
    if (result.exitCode === 127)
      await target.exec(['shutdown', '-r', 'now'], { sudo: true, timeoutMs: 60_000 });
  } catch {
    // Expected: the host went away mid-command.
  }
}

/** Polls until the server answers with a new boot id, or the reboot timeout passes (by deps.clock). */
export async function waitForReturn(
  ctx: RunContext,
  target: Target,
  before: string | null,
): Promise<StepResult> {
  const started = ctx.deps.clock.now().getTime();
  const deadline = started + ctx.rebootTimeoutMs;
  for (;;) {
    await ctx.sleep(ctx.rebootPollMs);
    const id = await bootId(target);
    const elapsed = ctx.deps.clock.now().getTime() - started;
    if (id && id !== before)
      return { ok: true, detail: `back after ${Math.round(elapsed / 1000)} s`, ms: elapsed };
    if (ctx.deps.clock.now().getTime() >= deadline) {
      return {
        ok: false,
        detail: `did not come back within ${Math.round(ctx.rebootTimeoutMs / 60_000)} min of the reboot; check its console`,
        ms: elapsed,
      };
    }
  }
}

/** The newest dnf/yum history id (the first column of `yum history list`), or undefined. */
export async function latestHistoryId(target: Target): Promise<number | undefined> {
  const spec = historyListCommand();
  const result = await target.exec(spec.argv, {
    env: { ...spec.env },
    sudo: true,
    timeoutMs: spec.timeoutSeconds * 1000,
  });
  if (result.exitCode !== 0) return undefined;
  let newest: number | undefined;
  for (const line of result.stdout.split('\n')) {
    const match = /^\s*(\d+)\s*\|/.exec(line);
    if (match) newest = Math.max(newest ?? 0, Number(match[1]));
  }
  return newest;
}
