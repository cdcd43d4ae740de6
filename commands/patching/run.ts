import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { AppError } from '../../lib/errors.js';
import { withTx } from '../../storage/db.js';
import {
  claimRunLease,
  ensureRun,
  ensureRunServers,
  finishRun,
  getRun,
  listRunServers,
  type RunOutcomeStatus,
  type RunServerRow,
  type RunServerState,
  renewRunLease,
} from '../../storage/patch-runs.js';
import type { PlanItemRow, PlanStatus } from '../../storage/patching.js';
import { getServersByIds } from '../../storage/scans.js';
import type { Deps } from '../deps.js';
import { createTargetFactory } from '../scanning/target-factory.js';
import { endPlan, getPlan, getPlanItems, setPlanStatus, verifyPlanHash } from './plans.js';
import { parsePatchPolicy } from './policy.js';
import { buildReport, reportReply, reportText } from './report.js';
import { DEFAULTS, type ExecuteRunOptions, type RunContext, realSleep } from './run-context.js';
import { countStates, countsText, createProgressPoster, recordRunEvent } from './run-notify.js';
import { runDeferredReboots } from './run-reboot.js';
import { runRing } from './run-ring.js';

export type { ExecuteRunOptions } from './run-context.js';

/**
 * Runs an approved, scheduled plan: verifies its hash, moves it to `running`, then patches ring by
 * ring (run-ring.ts) and ends with the before/after report and the final status. Called by the
 * `patch-run` job, and again by resume.ts for a run whose process died: every server carries on
 * from its recorded state, so none is patched twice and none is forgotten.
 */

export interface RunResult {
  planId: number;
  /** False when nothing was done: the plan had already ended, or another process holds the run. */
  ran: boolean;
  outcome?: RunOutcomeStatus;
  reason?: string;
  servers: { server: string; state: RunServerState }[];
}

const ENDED: readonly PlanStatus[] = [
  'succeeded',
  'partially-failed',
  'failed',
  'rolled-back',
  'cancelled',
  'superseded',
];

/** The plan's status from its servers' final states. */
export function outcomeOf(rows: readonly Pick<RunServerRow, 'state'>[]): RunOutcomeStatus {
  const c = countStates(rows);
  if (c.succeeded === c.total) return 'succeeded';
  if (c.succeeded > 0) return 'partially-failed';
  return c.rolledBack > 0 && c.failed === 0 ? 'rolled-back' : 'failed';
}

/** A plan whose items changed after approval never runs: it ends, and says why. */
async function refuseChanged(
  deps: Deps,
  planId: number,
  actor: string,
  stored: string,
  actual: string,
): Promise<never> {
  const reason = `it no longer matches what was approved (hash ${stored.slice(0, 12)}…, now ${actual.slice(0, 12)}…), so it will not run; build and approve a new plan`;
  await withTx(deps.sql, async (tx) => {
    const plan = await getPlan(tx, planId);
    if (plan?.status === 'scheduled') await endPlan(tx, deps, plan, 'cancelled', actor, { reason });
    else if (plan?.status === 'running')
      await setPlanStatus(tx, deps, planId, 'failed', actor, {
        text: `Patching stopped: ${reason}.`,
        reason,
      });
  });
  throw new AppError('conflict', `patch plan #${planId} was not run: ${reason}.`, {
    details: { planId, stored, actual },
  });
}

async function finish(ctx: RunContext, items: readonly PlanItemRow[]): Promise<RunResult> {
  const { deps, plan } = ctx;
  const rows = await listRunServers(deps.sql, plan.id);
  const outcome = outcomeOf(rows);
  const run = await getRun(deps.sql, plan.id);
  const report = buildReport(plan, rows, items, outcome, run?.haltedReason ?? null);
  const counts = countStates(rows);
  await withTx(deps.sql, async (tx) => {
    if (!(await finishRun(tx, { planId: plan.id, outcome, at: deps.clock.now() }))) return;
    await recordRunEvent(tx, deps, {
      actor: ctx.actor,
      action: 'patch.run-report',
      planId: plan.id,
      projectId: plan.projectId,
      data: { outcome, ...counts },
      thread: reportReply(report),
      ticket: { text: reportText(report) },
    });
    await setPlanStatus(tx, deps, plan.id, outcome, ctx.actor, {
      text: `Patching ${outcome === 'rolled-back' ? 'rolled back' : outcome}: ${countsText(counts)}.`,
      ...counts,
    });
  });
  deps.kickOutbox?.();
  return {
    planId: plan.id,
    ran: true,
    outcome,
    servers: rows.map((r) => ({ server: r.serverName, state: r.state })),
  };
}

/**
 * @example
 * await executeRun(deps, planId);                 // the patch-run job
 * await executeRun(deps, planId, { force: true }); // embedded start-up: no other process exists
 */
export async function executeRun(
  deps: Deps,
  planId: number,
  options: ExecuteRunOptions = {},
): Promise<RunResult> {
  const own = (options.targets ?? deps.targets) ? undefined : createTargetFactory();
  const targets = options.targets ?? deps.targets ?? own!;
  const actor = options.actor ?? 'job:patch-run';
  try {
    const plan = await getPlan(deps.sql, planId);
    if (!plan) throw new AppError('not_found', `patch plan #${planId} does not exist; type \`patch plans\``);
    if (ENDED.includes(plan.status))
      return { planId, ran: false, reason: `the plan is already ${plan.status}`, servers: [] };
    if (plan.status !== 'scheduled' && plan.status !== 'running') {
      throw new AppError(
        'conflict',
        `patch plan #${planId} is ${plan.status}; only an approved, scheduled plan runs`,
      );
    }
    const hash = await verifyPlanHash(deps.sql, planId);
    if (!hash.ok) return refuseChanged(deps, planId, actor, hash.stored, hash.actual);
    const policy = parsePatchPolicy(plan.policySnapshot);
    const items = await getPlanItems(deps.sql, planId);
    const owner = options.owner ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    const leaseMs = options.leaseMs ?? DEFAULTS.leaseMs;
    const placed = new Map<number, { serverId: number; ring: number; position: number }>();
    for (const i of items)
      placed.set(i.serverId, { serverId: i.serverId, ring: i.ring, position: i.position });
    const rings = [...new Set(items.map((i) => i.ring))].sort((a, b) => a - b);

    const claimed = await withTx(deps.sql, async (tx) => {
      const now = deps.clock.now();
      await ensureRun(tx, planId, now);
      const until = new Date(now.getTime() + leaseMs);
      if (!(await claimRunLease(tx, { planId, owner, now, until, force: options.force ?? false })))
        return false;
      if (plan.status === 'scheduled') {
        await setPlanStatus(tx, deps, planId, 'running', actor, {
          text: `Patching started: ${placed.size} server${placed.size === 1 ? '' : 's'} in ${rings.length} ring${rings.length === 1 ? '' : 's'}.`,
          servers: placed.size,
        });
      }
      await ensureRunServers(tx, planId, [...placed.values()]);
      return true;
    });
    if (!claimed)
      return { planId, ran: false, reason: 'another Warden process is running this plan', servers: [] };
    deps.kickOutbox?.();

    let lost = false;
    const heartbeat = setInterval(() => {
      const until = new Date(deps.clock.now().getTime() + leaseMs);
      renewRunLease(deps.sql, { planId, owner, until })
        .then((ok) => {
          if (!ok) lost = true;
        })
        .catch((err: unknown) => deps.log.warn({ err, planId }, 'patch run heartbeat failed'));
    }, options.heartbeatMs ?? DEFAULTS.heartbeatMs);
    heartbeat.unref();
    try {
      const ctx: RunContext = {
        deps,
        targets,
        actor,
        owner,
        plan: { ...plan, status: 'running' },
        policy,
        sleep: options.sleep ?? realSleep,
        rebootTimeoutMs: options.rebootTimeoutMs ?? DEFAULTS.rebootTimeoutMs,
        rebootPollMs: options.rebootPollMs ?? DEFAULTS.rebootPollMs,
        commandTimeoutMs: options.commandTimeoutMs ?? DEFAULTS.commandTimeoutMs,
        installTimeoutMs: options.installTimeoutMs,
      };
      const servers = new Map((await getServersByIds(deps.sql, [...placed.keys()])).map((s) => [s.id, s]));
      const progress = createProgressPoster(deps, {
        planId,
        projectId: plan.projectId,
        intervalMs: options.progressIntervalMs ?? DEFAULTS.progressIntervalMs,
      });
      const cutoffAt = plan.cutoffAt ?? plan.windowEnd;
      for (const ring of rings) {
        const result = await runRing(ctx, { ring, servers, items, cutoffAt, progress, lost: () => lost });
        if (lost || result.lost)
          return { planId, ran: true, reason: 'another process took the run over', servers: [] };
      }
      if (ctx.policy.reboot.when === 'end-of-window') {
        await runDeferredReboots(ctx, await listRunServers(deps.sql, planId), servers);
      }
      return await finish(ctx, items);
    } finally {
      clearInterval(heartbeat);
    }
  } finally {
    await own?.close();
  }
}
