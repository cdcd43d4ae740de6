import { withTx } from '../../storage/db.js';
import { lockPlanRow } from '../../storage/patching.js';
import { listPlansToDispatch, markRunEnqueued } from '../../storage/patching-work.js';
import type { Deps } from '../deps.js';
import { transitionPlan } from './plans.js';
import { planIsCurrent, supersedeChanged, windowFor } from './schedule.js';
import { formatSlot } from './windows.js';

/**
 * Starting scheduled plans when their window opens. The plan row is the durable schedule: this
 * runs every 30 seconds (jobs/patch-window.ts), and for each scheduled plan whose window has
 * opened it checks the plan is still what was approved (else supersedes it), then enqueues the
 * agenda job `patch-run` with `{ planId }` and marks the plan. The enqueue happens after the
 * check's commit and before the mark, so a crash in between enqueues it again rather than never:
 * `patch-run` must treat a plan that is no longer `scheduled` as nothing to do. A plan still
 * `scheduled` ten minutes after its enqueue (the job was lost) is enqueued again.
 *
 * A window whose cutoff passed before the run could start (Warden was down) is missed: the plan
 * moves to the next window (at once for `now` and CVE plans) and says so in its thread.
 */
export type EnqueueJob = (name: string, data: Record<string, unknown>) => Promise<unknown>;

export const PATCH_RUN_JOB = 'patch-run';
export const REENQUEUE_AFTER_MS = 10 * 60_000;
export const DISPATCH_ACTOR = 'job:patch-window';

export interface DispatchResult {
  enqueued: number[];
  rescheduled: number[];
  superseded: number[];
  /** Plans whose enqueue failed (logged); the next tick tries again. */
  failed: number[];
}

type Decision = 'enqueue' | 'rescheduled' | 'superseded' | 'skip';

async function decide(deps: Deps, planId: number): Promise<Decision> {
  return withTx(deps.sql, async (tx): Promise<Decision> => {
    const plan = await lockPlanRow(tx, planId);
    const now = deps.clock.now();
    if (!plan || plan.status !== 'scheduled' || !plan.windowStart || plan.windowStart > now) return 'skip';
    if (plan.cutoffAt && plan.cutoffAt <= now) {
      const slot = windowFor(plan, now);
      if (!slot) return 'skip';
      await transitionPlan(tx, deps, plan, 'scheduled', DISPATCH_ACTOR, {
        action: 'patch.plan.rescheduled',
        text: `The window passed before the run could start (Warden was not running?); moved to ${formatSlot(slot)}.`,
        data: { windowStart: slot.start.toISOString(), missedWindowStart: plan.windowStart.toISOString() },
        update: { window: slot, resetDispatch: true },
      });
      return 'rescheduled';
    }
    const currency = await planIsCurrent(tx, deps, plan);
    if (!currency.current) {
      await supersedeChanged(tx, deps, plan, DISPATCH_ACTOR, currency.reason ?? 'unknown');
      return 'superseded';
    }
    return 'enqueue';
  });
}

export async function dispatchDuePlans(deps: Deps, enqueue: EnqueueJob): Promise<DispatchResult> {
  const now = deps.clock.now();
  const result: DispatchResult = { enqueued: [], rescheduled: [], superseded: [], failed: [] };
  const due = await listPlansToDispatch(deps.sql, now, new Date(now.getTime() - REENQUEUE_AFTER_MS));
  for (const plan of due) {
    let decision: Decision;
    try {
      decision = await decide(deps, plan.id);
    } catch (error) {
      deps.log.error(
        { err: error, plan: plan.id },
        'could not check a scheduled patch plan; retrying next tick',
      );
      result.failed.push(plan.id);
      continue;
    }
    if (decision === 'rescheduled' || decision === 'superseded') {
      result[decision].push(plan.id);
      continue;
    }
    if (decision !== 'enqueue') continue;
    try {
      await enqueue(PATCH_RUN_JOB, { planId: plan.id });
      await markRunEnqueued(deps.sql, plan.id, deps.clock.now());
      result.enqueued.push(plan.id);
    } catch (error) {
      deps.log.error({ err: error, plan: plan.id }, 'could not enqueue a patch run; retrying next tick');
      result.failed.push(plan.id);
    }
  }
  if (result.rescheduled.length || result.superseded.length) deps.kickOutbox?.();
  return result;
}
