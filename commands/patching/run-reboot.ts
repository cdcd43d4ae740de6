import { withTx } from '../../storage/db.js';
import type { Server } from '../../storage/inventory.js';
import { changeServerState, type RunServerRow, type RunStep } from '../../storage/patch-runs.js';
import { clip, errorText, type RunContext } from './run-context.js';
import { recordRunEvent } from './run-notify.js';
import { bootId, requestReboot, waitForReturn } from './run-steps.js';

/**
 * Reboots the policy put off until the end of the window (`reboot.when: end-of-window`): after the
 * last ring, each patched server that needs one is rebooted and waited for. The request is logged
 * on the server's row before it is made, so a restarted run never reboots a server twice.
 */

const CONCURRENCY = 5;

/** Succeeded servers whose last logged step still says a reboot is owed. */
export function rebootsOwed(rows: readonly RunServerRow[]): RunServerRow[] {
  return rows.filter((r) => {
    if (r.state !== 'succeeded') return false;
    const last = [...r.steps]
      .reverse()
      .find((s) => s.data && ('rebootDeferred' in s.data || 'rebootRequested' in s.data));
    return last?.data?.rebootDeferred === true;
  });
}

async function note(ctx: RunContext, row: RunServerRow, step: Omit<RunStep, 'at' | 'state'>): Promise<void> {
  const at = ctx.deps.clock.now();
  await changeServerState(ctx.deps.sql, {
    owner: ctx.owner,
    planId: row.planId,
    serverId: row.serverId,
    from: 'succeeded',
    to: 'succeeded',
    at,
    steps: [{ at: at.toISOString(), state: 'succeeded', ...step, detail: clip(step.detail ?? '') }],
  });
}

async function rebootOne(ctx: RunContext, row: RunServerRow, server: Server): Promise<string> {
  let target: Awaited<ReturnType<RunContext['targets']['forServer']>> | undefined;
  try {
    target = await ctx.targets.forServer(server, ctx.deps);
    const before = await bootId(target);
    await note(ctx, row, {
      ok: true,
      detail: 'end-of-window reboot requested',
      data: { rebootRequested: true, bootId: before },
    });
    await requestReboot(target);
    const back = await waitForReturn(ctx, target, before);
    await note(ctx, row, { ok: back.ok, detail: `end-of-window reboot: ${back.detail}`, ms: back.ms });
    return back.ok ? '' : `${server.name} ${back.detail}`;
  } catch (error) {
    return `${server.name}: the end-of-window reboot failed: ${errorText(error)}`;
  } finally {
    await target?.close().catch(() => {});
  }
}

export async function runDeferredReboots(
  ctx: RunContext,
  rows: readonly RunServerRow[],
  servers: ReadonlyMap<number, Server>,
): Promise<void> {
  const queue = rebootsOwed(rows);
  if (queue.length === 0) return;
  const problems: string[] = [];
  const total = queue.length;
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, queue.length) }, async () => {
      for (let row = queue.shift(); row; row = queue.shift()) {
        const server = servers.get(row.serverId);
        if (!server) continue;
        const problem = await rebootOne(ctx, row, server);
        if (problem) problems.push(problem);
      }
    }),
  );
  const text = problems.length
    ? `End-of-window reboots: ${total - problems.length} of ${total} back. ${problems.slice(0, 10).join('; ')}`
    : `End-of-window reboots: all ${total} servers are back.`;
  await withTx(ctx.deps.sql, (tx) =>
    recordRunEvent(tx, ctx.deps, {
      actor: ctx.actor,
      action: 'patch.run-rebooted',
      planId: ctx.plan.id,
      projectId: ctx.plan.projectId,
      data: { servers: total, problems: problems.slice(0, 20) },
      thread: {
        visibility: 'public',
        ...(problems.length ? { tone: 'warning' as const } : {}),
        text: clip(text, 1500),
      },
    }),
  );
}
