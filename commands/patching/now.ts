import type { Deps } from '../deps.js';
import type { Actor } from '../rbac/authorize.js';
import { type BuildOutcome, type BuildPlanMeta, buildPlan, type PreparedPlan, preparePlan } from './build.js';

/**
 * `patch run <project> now`: the same plan as `patch plan` (fresh scans, policy, rings, hash,
 * approvals, change request), of kind `now`: once every approval is in, its window opens at that
 * moment for the policy's `immediateWindow` (default 120 minutes, no cutoff), and the patch-window
 * job enqueues the run on its next tick. It never skips the approval.
 */
export function prepareRunNow(deps: Deps, actor: Actor, project: string): Promise<PreparedPlan> {
  return preparePlan(deps, actor, { project, kind: 'now' });
}

export function planRunNow(
  deps: Deps,
  actor: Actor,
  input: { project: string; skipExcluded?: boolean },
  meta: BuildPlanMeta = {},
  prepared?: PreparedPlan,
): Promise<BuildOutcome> {
  return buildPlan(deps, actor, { ...input, kind: 'now' }, meta, prepared);
}
