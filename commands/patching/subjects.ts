import { z } from 'zod';
import { AppError } from '../../lib/errors.js';
import { type ApprovalRequest, listApprovalDecisions } from '../../storage/approvals.js';
import type { Tx } from '../../storage/db.js';
import { lockPlanRow } from '../../storage/patching.js';
import type { ApprovalHook, ApprovalHookContext, ApprovalSubject } from '../approvals/subjects.js';
import { endPlan, getPatchPolicy, type PatchPlan, transitionPlan } from './plans.js';
import { EXCLUSION_SUBJECT, PLAN_SUBJECT } from './render.js';
import { schedulePlanTx } from './schedule.js';

/**
 * The approval hooks of patching, run inside the engine's transaction (an approval and its effect
 * commit together):
 *  - `patch-plan` (permission patch:approve): the plan is approved; scheduled unless its excluded
 *    packages still wait for their own approval.
 *  - `patch-exclusion` (permission patch:approve-exclusion, a second group): the excluded packages
 *    may be installed; the plan is scheduled if it was approved already.
 * With the policy's `separateExclusionApprover` (default true) one person cannot give both: the
 * second approval by someone who gave the first is refused and nothing is recorded. (With a project
 * needing several approvals per request, only the final, deciding approval is checked.)
 * A denial, expiry or cancellation of either ends the plan and withdraws the other request.
 */
const HookData = z.object({ planId: z.number().int().positive() });

async function planOf(tx: Tx, approval: ApprovalRequest): Promise<PatchPlan | undefined> {
  const { planId } = HookData.parse(approval.details.data);
  return lockPlanRow(tx, planId);
}

function approversOf(context: Pick<ApprovalHookContext, 'decisions'>): Set<number> {
  return new Set(context.decisions.filter((d) => d.decision === 'approve').map((d) => d.approverId));
}

/** Refuse when someone approved both requests of a plan whose policy wants two people. */
async function checkSeparateApprovers(
  tx: Tx,
  plan: PatchPlan,
  context: ApprovalHookContext,
  otherRequestId: number | null,
): Promise<void> {
  if (otherRequestId === null) return;
  // Either the policy the plan was built under or the current one asking for two people is enough.
  const { policy } = await getPatchPolicy(tx, plan.projectId);
  if (!plan.policySnapshot.separateExclusionApprover && !policy.separateExclusionApprover) return;
  const mine = approversOf(context);
  const other = approversOf({ decisions: await listApprovalDecisions(tx, otherRequestId) });
  const both = context.decisions.find(
    (d) => d.decision === 'approve' && other.has(d.approverId) && mine.has(d.approverId),
  );
  if (both) {
    throw new AppError(
      'forbidden',
      `${both.approverHandle} already approved the other half of patch plan #${plan.id}; the policy of ${plan.projectSlug} wants a different person to approve the plan and its excluded packages. Nothing was recorded.`,
    );
  }
}

function live(plan: PatchPlan | undefined): plan is PatchPlan {
  return plan !== undefined && (plan.status === 'awaiting-approval' || plan.status === 'approved');
}

function endOnRefusal(verb: string, what: 'plan' | 'exclusions'): ApprovalHook {
  return async (tx, deps, approval, context) => {
    const plan = await planOf(tx, approval);
    if (!live(plan)) return;
    const again =
      what === 'exclusions'
        ? ` To patch without them, type \`patch plan ${plan.projectSlug} --skip-excluded\`.`
        : '';
    await endPlan(tx, deps, plan, 'cancelled', context.actor, {
      reason: `its ${what === 'plan' ? 'approval' : 'exclusion approval'} #${approval.id} ${verb}.${again}`,
    });
  };
}

export const patchPlanSubject: ApprovalSubject = {
  type: PLAN_SUBJECT,
  async onApproved(tx, deps, approval, context) {
    const plan = await planOf(tx, approval);
    // Superseded or cancelled while the approval was being decided: nothing to schedule.
    if (!plan || plan.status !== 'awaiting-approval') return;
    await checkSeparateApprovers(tx, plan, context, plan.exclusionRequestId);
    const now = deps.clock.now();
    const approved = await transitionPlan(tx, deps, plan, 'approved', context.actor, {
      text: `Plan approved (approval #${approval.id}) by ${context.actor.replace(/^user:/, '')}.`,
      data: { approvalId: approval.id, approvedBy: context.decisions.map((d) => d.approverHandle) },
      update: { approvedAt: now },
    });
    if (plan.exclusionRequestId !== null && plan.exclusionApprovedAt === null) {
      return; // the excluded packages still wait for their own approval
    }
    await schedulePlanTx(tx, deps, approved, context.actor);
  },
  onDenied: endOnRefusal('was denied', 'plan'),
  onExpired: endOnRefusal('expired', 'plan'),
  onCancelled: endOnRefusal('was withdrawn', 'plan'),
};

export const patchExclusionSubject: ApprovalSubject = {
  type: EXCLUSION_SUBJECT,
  async onApproved(tx, deps, approval, context) {
    const plan = await planOf(tx, approval);
    if (!live(plan) || plan.exclusionApprovedAt !== null) return;
    await checkSeparateApprovers(tx, plan, context, plan.approvalRequestId);
    const now = deps.clock.now();
    // The status stays; only the exclusion mark and the event change.
    const marked = await transitionPlan(tx, deps, plan, plan.status, context.actor, {
      action: 'patch.plan.exclusions-approved',
      text: `Excluded packages approved (approval #${approval.id}) by ${context.actor.replace(/^user:/, '')}.`,
      data: { approvalId: approval.id, approvedBy: context.decisions.map((d) => d.approverHandle) },
      update: { exclusionApprovedAt: now },
    });
    if (marked.status === 'approved') await schedulePlanTx(tx, deps, marked, context.actor);
  },
  onDenied: endOnRefusal('was denied', 'exclusions'),
  onExpired: endOnRefusal('expired', 'exclusions'),
  onCancelled: endOnRefusal('was withdrawn', 'exclusions'),
};

/** For createApprovalSubjects([...]) in bot/main.ts. */
export const patchApprovalSubjects: readonly ApprovalSubject[] = [patchPlanSubject, patchExclusionSubject];
