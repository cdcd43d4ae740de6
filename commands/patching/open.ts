import type { Tx } from '../../storage/db.js';
import { type ApprovalPolicy, openApproval } from '../approvals/engine.js';
import { oneLine } from '../approvals/render.js';
import type { Deps } from '../deps.js';
import type { Actor } from '../rbac/authorize.js';
import type { PatchPlan, PatchPlanItem } from './plans.js';
import { EXCLUSION_SUBJECT, PLAN_SUBJECT, type PlanSummary, planFields, planTitle } from './render.js';

/**
 * The approval requests of a new plan: the plan itself (patch:approve) and, when it holds excluded
 * packages, their secondary approval (patch:approve-exclusion). When the policy auto-approves after
 * N days and nothing is excluded, the plan's request is kept open until the auto-approval is due,
 * so it does not expire first.
 */
const DAY = 86_400_000;
const HOUR = 3_600_000;

/** When every package of the plan will have been pending N days (null: never by itself). */
export function autoApprovalDueAt(
  plan: Pick<PatchPlan, 'policySnapshot'>,
  items: readonly PatchPlanItem[],
): Date | null {
  const days = plan.policySnapshot.autoApproveAfterDays;
  if (days === null || items.length === 0 || items.some((i) => i.excluded)) return null;
  const newest = Math.max(...items.map((i) => i.firstSeenAt.getTime()));
  return new Date(newest + days * DAY);
}

export async function openPlanApprovals(
  tx: Tx,
  deps: Deps,
  input: {
    plan: PatchPlan;
    items: readonly PatchPlanItem[];
    summary: PlanSummary;
    requester: Actor;
    approvalPolicy: ApprovalPolicy;
  },
): Promise<{ approvalRequestId: number; exclusionRequestId: number | null }> {
  const { plan, items, summary } = input;
  const now = deps.clock.now();
  const autoAt = autoApprovalDueAt(plan, items);
  const standard = now.getTime() + input.approvalPolicy.expiresInMs;
  const expiresAt = new Date(Math.max(standard, autoAt ? autoAt.getTime() + HOUR : 0));
  const main = await openApproval(tx, deps, {
    subject: { type: PLAN_SUBJECT, id: String(plan.id) },
    projectId: plan.projectId,
    requester: input.requester,
    permission: 'patch:approve',
    title: planTitle(plan, summary),
    details: [
      ...planFields(plan, summary),
      ...(autoAt
        ? [
            {
              label: 'Auto-approval',
              value: `at ${autoAt.toISOString().slice(0, 16)} UTC unless decided before`,
            },
          ]
        : []),
    ],
    data: { planId: plan.id, hash: plan.hash },
    expiresAt,
  });
  const excluded = items.filter((i) => i.excluded);
  if (excluded.length === 0) return { approvalRequestId: main.request.id, exclusionRequestId: null };
  const packages = [...new Set(excluded.map((i) => i.package))];
  const servers = new Set(excluded.map((i) => i.serverName));
  const exclusion = await openApproval(tx, deps, {
    subject: { type: EXCLUSION_SUBJECT, id: String(plan.id) },
    projectId: plan.projectId,
    requester: input.requester,
    permission: 'patch:approve-exclusion',
    // openApproval takes at most 200 characters; package names may be up to 128 each.
    title: oneLine(
      `Excluded packages in patch plan #${plan.id} for ${plan.projectSlug}: ${packages.slice(0, 5).join(', ')}${packages.length > 5 ? ', …' : ''}`,
      200,
    ),
    details: [
      {
        label: 'Packages',
        value: oneLine(packages.slice(0, 20).join(', ') + (packages.length > 20 ? ', …' : ''), 1000),
      },
      { label: 'Servers', value: String(servers.size) },
      { label: 'Exclusion rules', value: oneLine(plan.policySnapshot.exclusions.join(', '), 500) },
      {
        label: 'Rule',
        value: plan.policySnapshot.separateExclusionApprover
          ? 'someone other than the plan approver must approve these'
          : 'any holder of patch:approve-exclusion',
      },
      { label: 'Plan hash', value: plan.hash.slice(0, 16) },
    ],
    data: { planId: plan.id, hash: plan.hash, packages: packages.slice(0, 50) },
    expiresAt,
  });
  return { approvalRequestId: main.request.id, exclusionRequestId: exclusion.request.id };
}
