import type { Notification, Reply } from '../../bot/chat/model.js';
import { ticketOutboxFor } from '../../integrations/tickets/subjects.js';
import type { TicketTransition } from '../../integrations/tickets/types.js';
import { AppError } from '../../lib/errors.js';
import { lockApprovalRequest } from '../../storage/approvals.js';
import type { Queryable, Tx } from '../../storage/db.js';
import {
  getPlanRow,
  getPolicyRow,
  listPlanItems,
  lockPlanRow,
  type PlanItemRow,
  type PlanRow,
  type PlanStatus,
  type PlanUpdate,
  updatePlan,
} from '../../storage/patching.js';
import { finishRequest } from '../approvals/state.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { planHash } from './hash.js';
import { DEFAULT_PATCH_POLICY, type PatchPolicy, parsePatchPolicy } from './policy.js';
import { planMessage, planSubject } from './render.js';

/**
 * Plans: reading them, and every status change, each one on the trail with a reply in the plan's
 * thread (subject patch-plan), the plan message updated in place, and the change request moved.
 *
 *   awaiting-approval → approved → scheduled → running → succeeded | partially-failed | failed | rolled-back
 *   (awaiting-approval goes straight to scheduled when nothing else waits); any not yet running →
 *   cancelled | superseded; scheduled → scheduled when it moves to another window.
 */
export type PatchPlan = PlanRow;
export type PatchPlanItem = PlanItemRow;
export { planSubject };

const TRANSITIONS: Record<PlanStatus, readonly PlanStatus[]> = {
  draft: ['awaiting-approval', 'cancelled', 'superseded'],
  'awaiting-approval': ['approved', 'scheduled', 'cancelled', 'superseded'],
  approved: ['scheduled', 'cancelled', 'superseded'],
  scheduled: ['scheduled', 'running', 'cancelled', 'superseded'],
  running: ['succeeded', 'partially-failed', 'failed', 'rolled-back'],
  succeeded: [],
  'partially-failed': [],
  failed: [],
  'rolled-back': [],
  cancelled: [],
  superseded: [],
};

/** Where the change request goes on each status; other statuses only add a comment. */
const TICKET_TRANSITION: Partial<Record<PlanStatus, TicketTransition>> = {
  approved: 'approved',
  running: 'in-progress',
  succeeded: 'done',
  'partially-failed': 'failed',
  failed: 'failed',
  'rolled-back': 'failed',
  cancelled: 'cancelled',
  superseded: 'cancelled',
};

const DEFAULT_TEXT: Record<PlanStatus, string> = {
  draft: 'Plan drafted.',
  'awaiting-approval': 'Waiting for approval.',
  approved: 'Plan approved.',
  scheduled: 'Plan scheduled.',
  running: 'Patching started.',
  succeeded: 'Patching succeeded.',
  'partially-failed': 'Patching finished; some servers failed.',
  failed: 'Patching failed.',
  'rolled-back': 'Patching was rolled back.',
  cancelled: 'Plan cancelled.',
  superseded: 'Plan superseded by a newer one.',
};

export async function getPlan(sql: Queryable, id: number): Promise<PatchPlan | undefined> {
  return getPlanRow(sql, id);
}

/** In run order: ring, position in the ring, package. */
export async function getPlanItems(sql: Queryable, id: number): Promise<PatchPlanItem[]> {
  return listPlanItems(sql, id);
}

/** Does the stored hash still match the stored plan (items and policy snapshot)? */
export async function verifyPlanHash(
  sql: Queryable,
  planId: number,
): Promise<{ ok: boolean; stored: string; actual: string }> {
  const plan = await getPlanRow(sql, planId);
  if (!plan) throw new AppError('not_found', `patch plan #${planId} does not exist; type \`patch plans\``);
  const actual = planHash(plan, await listPlanItems(sql, planId));
  return { ok: actual === plan.hash, stored: plan.hash, actual };
}

export interface StoredPolicy {
  policy: PatchPolicy;
  /** False: the project has no policy of its own and uses the default. */
  stored: boolean;
  updatedAt: Date | null;
  updatedBy: string | null;
}

export async function getPatchPolicy(sql: Queryable, projectId: number): Promise<StoredPolicy> {
  const row = await getPolicyRow(sql, projectId);
  if (!row) return { policy: DEFAULT_PATCH_POLICY, stored: false, updatedAt: null, updatedBy: null };
  return {
    policy: parsePatchPolicy(row.policy),
    stored: true,
    updatedAt: row.updatedAt,
    updatedBy: row.updatedBy,
  };
}

export interface TransitionOptions {
  /** The thread reply and ticket comment; default a sentence for the status. */
  text?: string;
  /** Trail action; default `patch.plan.<status>`. */
  action?: string;
  /** Facts for the trail (never secrets). */
  data?: Record<string, unknown>;
  /** Columns changed with the status. */
  update?: Omit<PlanUpdate, 'status' | 'at'>;
  /** Also post this to the project's channel. */
  channelPost?: Reply;
}

/**
 * Move a locked plan to `status` inside `tx`, with its event, messages and ticket item. Throws
 * `conflict` for a move the lifecycle does not allow; the status it already has is always allowed.
 */
export async function transitionPlan(
  tx: Tx,
  deps: Deps,
  plan: PatchPlan,
  status: PlanStatus,
  actor: string,
  options: TransitionOptions = {},
): Promise<PatchPlan> {
  // The same status again records an event without a move (a window change, exclusions approved).
  if (status !== plan.status && !TRANSITIONS[plan.status].includes(status)) {
    throw new AppError(
      'conflict',
      `patch plan #${plan.id} is ${plan.status}, so it cannot become ${status}; type \`patch plans ${plan.projectSlug}\` to see where it stands`,
      { details: { planId: plan.id, status: plan.status, wanted: status } },
    );
  }
  const at = deps.clock.now();
  if (!(await updatePlan(tx, plan.id, [plan.status], { ...options.update, status, at }))) {
    throw new AppError(
      'conflict',
      `patch plan #${plan.id} changed while this was decided; nothing was changed`,
    );
  }
  const updated = (await getPlanRow(tx, plan.id))!;
  const items = await listPlanItems(tx, plan.id);
  const subject = planSubject(plan.id);
  const action = options.action ?? `patch.plan.${status}`;
  const text = options.text ?? DEFAULT_TEXT[status];
  const notifications: Notification[] = [
    {
      kind: 'subject-message',
      subject,
      projectId: plan.projectId,
      reply: planMessage(updated, items, deps.config.publicUrl),
    },
    { kind: 'thread-reply', subject, projectId: plan.projectId, reply: { visibility: 'public', text } },
    ...(options.channelPost
      ? [{ kind: 'channel-post' as const, projectId: plan.projectId, reply: options.channelPost }]
      : []),
  ];
  const transition = status === plan.status ? undefined : TICKET_TRANSITION[status];
  const ticket = await ticketOutboxFor(tx, subject, {
    actor,
    action,
    text,
    ...(transition ? { transition } : {}),
  });
  await recordEvent(
    tx,
    deps,
    {
      actor,
      action,
      subject,
      projectId: plan.projectId,
      data: { planId: plan.id, from: plan.status, to: status, hash: plan.hash, ...options.data },
    },
    notifications,
    ticket,
  );
  return updated;
}

export interface PlanStatusData extends Record<string, unknown> {
  /** The thread reply and ticket comment (a run report, say); default a sentence for the status. */
  text?: string;
}

/**
 * The status change the run (P2) makes: `running`, then a final one. Setting the status a plan
 * already has changes nothing (a resumed run may say `running` again). `running` is refused
 * (`conflict`) when the stored hash no longer matches the stored plan.
 *
 * @example
 * await withTx(sql, (tx) => setPlanStatus(tx, deps, planId, 'running', 'job:patch-run'));
 */
export async function setPlanStatus(
  tx: Tx,
  deps: Deps,
  id: number,
  status: PlanStatus,
  actorLabel: string,
  data: PlanStatusData = {},
): Promise<PatchPlan> {
  const plan = await lockPlanRow(tx, id);
  if (!plan) throw new AppError('not_found', `patch plan #${id} does not exist; type \`patch plans\``);
  if (plan.status === status && status !== 'scheduled') return plan;
  if (status === 'running') {
    const actual = planHash(plan, await listPlanItems(tx, id));
    if (actual !== plan.hash) {
      throw new AppError(
        'conflict',
        `patch plan #${id} no longer matches what was approved (hash ${plan.hash.slice(0, 12)}…, now ${actual.slice(0, 12)}…); it will not run. Build a new one with \`patch plan ${plan.projectSlug}\`.`,
        { details: { planId: id, stored: plan.hash, actual } },
      );
    }
  }
  const { text, ...facts } = data;
  return transitionPlan(tx, deps, plan, status, actorLabel, {
    ...(text ? { text } : {}),
    data: facts,
  });
}

/**
 * End a plan that has not run (cancelled or superseded) and withdraw its pending approvals, so
 * nobody approves something that will never run.
 */
export async function endPlan(
  tx: Tx,
  deps: Deps,
  plan: PatchPlan,
  status: 'cancelled' | 'superseded',
  actor: string,
  input: { reason: string; supersededBy?: number; channelPost?: Reply },
): Promise<PatchPlan> {
  const ended = await transitionPlan(tx, deps, plan, status, actor, {
    text: `${status === 'cancelled' ? 'Plan cancelled' : 'Plan superseded'}: ${input.reason}`,
    data: { reason: input.reason, ...(input.supersededBy ? { supersededBy: input.supersededBy } : {}) },
    update: {
      notes: { endReason: input.reason },
      ...(input.supersededBy ? { supersededBy: input.supersededBy } : {}),
    },
    ...(input.channelPost ? { channelPost: input.channelPost } : {}),
  });
  for (const requestId of [plan.approvalRequestId, plan.exclusionRequestId]) {
    if (requestId === null) continue;
    const request = await lockApprovalRequest(tx, requestId);
    if (request?.status !== 'pending') continue;
    // The subjects' hooks see the plan already ended and leave it alone.
    await finishRequest(tx, deps, request, { status: 'cancelled', actor, reason: input.reason });
  }
  return ended;
}
