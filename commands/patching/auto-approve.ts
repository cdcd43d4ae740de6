import { lockApprovalRequest } from '../../storage/approvals.js';
import { withTx } from '../../storage/db.js';
import { listAutoApprovalCandidates } from '../../storage/patching-work.js';
import { finishRequest } from '../approvals/state.js';
import type { Deps } from '../deps.js';
import { getPatchPolicy, getPlanItems, type PatchPlan, type PatchPlanItem } from './plans.js';
import type { PatchPolicy } from './policy.js';

/**
 * Auto-approval after N days, for every OS (Debian and Ubuntu included: the age comes from
 * Warden's own findings, first_seen_at, not from the vendor's release date). A plan is eligible
 * when, at the moment the job looks:
 *  - it is `awaiting-approval` and its approval request is still pending and not expired;
 *  - the project's current policy sets `autoApproveAfterDays` = N;
 *  - it has at least one item and none is excluded (excluded packages always need a person);
 *  - every item was first seen at least N days ago (now − first_seen_at ≥ N × 24 h).
 * The approval is recorded on the trail as actor `policy:auto-approve`, through the approval
 * engine, so the plan is then scheduled exactly as after a person's approval. The request row is
 * locked and must still be pending, so two job runs approve it once.
 */
export const AUTO_APPROVE_ACTOR = 'policy:auto-approve';
const DAY = 86_400_000;

export function autoApprovalEligible(
  policy: Pick<PatchPolicy, 'autoApproveAfterDays'>,
  plan: Pick<PatchPlan, 'status' | 'exclusionRequestId'>,
  items: readonly Pick<PatchPlanItem, 'excluded' | 'firstSeenAt'>[],
  now: Date,
): boolean {
  const days = policy.autoApproveAfterDays;
  if (days === null || plan.status !== 'awaiting-approval' || plan.exclusionRequestId !== null) return false;
  if (items.length === 0 || items.some((i) => i.excluded)) return false;
  const limit = now.getTime() - days * DAY;
  return items.every((i) => i.firstSeenAt.getTime() <= limit);
}

/** Approves every eligible plan; returns their ids. */
export async function autoApprovePlans(deps: Deps): Promise<number[]> {
  const approved: number[] = [];
  for (const plan of await listAutoApprovalCandidates(deps.sql)) {
    if (plan.approvalRequestId === null) continue;
    try {
      const { policy } = await getPatchPolicy(deps.sql, plan.projectId);
      const items = await getPlanItems(deps.sql, plan.id);
      if (!autoApprovalEligible(policy, plan, items, deps.clock.now())) continue;
      const done = await withTx(deps.sql, async (tx) => {
        const request = await lockApprovalRequest(tx, plan.approvalRequestId!);
        if (request?.status !== 'pending' || request.expiresAt <= deps.clock.now()) return false;
        await finishRequest(tx, deps, request, {
          status: 'approved',
          actor: AUTO_APPROVE_ACTOR,
          reason: null,
          data: { rule: 'autoApproveAfterDays', days: policy.autoApproveAfterDays, planId: plan.id },
        });
        return true;
      });
      if (done) approved.push(plan.id);
    } catch (error) {
      deps.log.error(
        { err: error, plan: plan.id },
        'auto-approval of a patch plan failed; retrying next run',
      );
    }
  }
  if (approved.length) deps.kickOutbox?.();
  return approved;
}
