import { withTx } from '../../storage/db.js';
import type { Server } from '../../storage/inventory.js';
import {
  getRun,
  isFinalState,
  listRunServers,
  type RunServerRow,
  type RunServerState,
  skipServers,
} from '../../storage/patch-runs.js';
import type { PlanItemRow } from '../../storage/patching.js';
import { allowedFailures } from './policy.js';
import type { RunContext } from './run-context.js';
import { countStates, countsText, type ProgressPoster, recordHalt, recordRunEvent } from './run-notify.js';
import { LostServerError, patchServer, type ServerOutcome } from './run-server.js';

/**
 * One ring of a run: at most maxConcurrency servers at once, none started after the window's
 * cutoff or once the run is halted (by the error threshold or by someone), and work already
 * started always allowed to finish.
 */

export interface RingInput {
  ring: number;
  servers: ReadonlyMap<number, Server>;
  items: readonly PlanItemRow[];
  cutoffAt: Date | null;
  progress: ProgressPoster;
  /** The lease was lost: stop starting servers. */
  lost(): boolean;
}

export interface RingResult {
  halted: string | null;
  cutoffPassed: boolean;
  /** Another process took the run over (a write was fenced): this one must stop. */
  lost: boolean;
  outcomes: ServerOutcome[];
}

export function ringName(ctx: RunContext, ring: number): string {
  return ctx.policy.rings[ring]?.name ?? `ring ${ring + 1}`;
}

const FAILED: readonly RunServerState[] = ['failed', 'rolled-back'];

export async function runRing(ctx: RunContext, input: RingInput): Promise<RingResult> {
  const name = ringName(ctx, input.ring);
  const rows = (await listRunServers(ctx.deps.sql, ctx.plan.id)).filter((r) => r.ring === input.ring);
  const spec = ctx.policy.rings[input.ring];
  const threshold = spec?.errorThreshold ?? 0;
  const allowed = allowedFailures(threshold, rows.length);
  const concurrency = Math.max(1, spec?.maxConcurrency ?? 1);
  let failures = rows.filter((r) => FAILED.includes(r.state)).length;
  let halted = (await getRun(ctx.deps.sql, ctx.plan.id))?.haltedReason ?? null;
  let cutoffPassed = false;
  let fenced = false;
  const outcomes: ServerOutcome[] = [];
  const lost = () => fenced || input.lost();

  const haltFor = async (): Promise<void> => {
    const reason = `${failures} of ${rows.length} servers failed in ring ${name}, more than its error threshold (${threshold}) allows`;
    await withTx(ctx.deps.sql, (tx) =>
      recordHalt(tx, ctx.deps, { planId: ctx.plan.id, projectId: ctx.plan.projectId, reason, by: ctx.actor }),
    );
    halted = reason;
  };
  if (!halted && failures > allowed) await haltFor();

  // Servers a dead process left mid-way go first: they were started, so they finish.
  const queue: RunServerRow[] = [
    ...rows.filter((r) => !isFinalState(r.state) && r.state !== 'pending'),
    ...rows.filter((r) => r.state === 'pending'),
  ];

  // A ring a dead process had already finished: nothing to do and nothing new to say.
  if (queue.length === 0) return { halted, cutoffPassed, lost: false, outcomes };

  async function worker(): Promise<void> {
    for (let row = queue.shift(); row && !lost(); row = queue.shift()) {
      if (row.state === 'pending') {
        if (halted) continue;
        const run = await getRun(ctx.deps.sql, ctx.plan.id);
        if (run?.haltedReason) {
          halted = run.haltedReason;
          continue;
        }
        if (input.cutoffAt && ctx.deps.clock.now() >= input.cutoffAt) {
          cutoffPassed = true;
          continue;
        }
      }
      const server = input.servers.get(row.serverId);
      if (!server) continue;
      let outcome: ServerOutcome;
      try {
        outcome = await patchServer(ctx, {
          server,
          row,
          items: input.items.filter((i) => i.serverId === row.serverId),
        });
      } catch (error) {
        // Another process owns the run now; it reports this server and the rest.
        if (error instanceof LostServerError) {
          fenced = true;
          return;
        }
        throw error;
      }
      outcomes.push(outcome);
      if (FAILED.includes(outcome.state)) {
        failures++;
        if (!halted && failures > allowed) await haltFor();
      }
      const all = await listRunServers(ctx.deps.sql, ctx.plan.id);
      await input.progress.post(all, `Ring ${name}`);
    }
  }

  await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, () => worker()));
  if (lost()) return { halted, cutoffPassed, lost: true, outcomes };

  const at = ctx.deps.clock.now();
  const leftIds = rows.map((r) => r.serverId);
  const skipped =
    halted || cutoffPassed
      ? await skipServers(ctx.deps.sql, {
          owner: ctx.owner,
          planId: ctx.plan.id,
          serverIds: leftIds,
          to: halted ? 'skipped-halted' : 'skipped-cutoff',
          reason: halted ? `not started: the run halted (${halted})` : 'not started: the window closed',
          at,
        })
      : [];
  const after = (await listRunServers(ctx.deps.sql, ctx.plan.id)).filter((r) => r.ring === input.ring);
  const counts = countStates(after);
  const why = halted ? 'the run halted' : 'the window closed';
  const list = `${skipped.slice(0, 20).join(', ')}${skipped.length > 20 ? ', …' : ''}`;
  const text = `Ring ${name} finished: ${countsText(counts)}.${skipped.length ? ` Not started because ${why}: ${list}.` : ''}`;
  await withTx(ctx.deps.sql, (tx) =>
    recordRunEvent(tx, ctx.deps, {
      actor: ctx.actor,
      action: 'patch.ring-finished',
      planId: ctx.plan.id,
      projectId: ctx.plan.projectId,
      data: { ring: input.ring, name, ...counts, skipped: skipped.slice(0, 50), halted, cutoffPassed },
      thread: {
        visibility: 'public',
        ...(counts.failed + counts.rolledBack ? { tone: 'warning' as const } : {}),
        text,
      },
      ticket: { text },
    }),
  );
  return { halted, cutoffPassed, lost: false, outcomes };
}
