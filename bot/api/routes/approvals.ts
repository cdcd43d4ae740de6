import { z } from 'zod';
import { cancelApproval, decide, getApprovalView } from '../../../commands/approvals/engine.js';
import type { ApprovalView } from '../../../commands/approvals/render.js';
import { mayDecide } from '../../../commands/approvals/state.js';
import type { Deps } from '../../../commands/deps.js';
import { type Actor, can } from '../../../commands/rbac/authorize.js';
import { AppError } from '../../../lib/errors.js';
import { listPendingByRequester, listPendingNotDecidedBy } from '../../../storage/approvals.js';
import { type ApiRoute, defineRoute } from '../registry.js';

/**
 * Approvals over the API: what waits for the caller, one request with its decisions, and the
 * same approve / deny / cancel the chat buttons do (the engine enforces who may).
 */
const Timestamp = z.iso.datetime();

const ApprovalRequestView = z.object({
  id: z.int(),
  subject: z.object({ type: z.string(), id: z.string() }),
  project: z.string().nullable(),
  title: z.string(),
  status: z.enum(['pending', 'approved', 'denied', 'expired', 'cancelled']),
  permission: z.string().describe('what an approver must hold'),
  requester: z.string(),
  requiredApprovals: z.int(),
  approvals: z.int(),
  fields: z.array(z.object({ label: z.string(), value: z.string() })),
  decisions: z.array(
    z.object({
      approver: z.string(),
      decision: z.enum(['approve', 'deny']),
      comment: z.string().nullable(),
      at: Timestamp,
    }),
  ),
  expiresAt: Timestamp,
  createdAt: Timestamp,
  decidedAt: Timestamp.nullable(),
});

function approvalView(v: ApprovalView): z.input<typeof ApprovalRequestView> {
  const r = v.request;
  return {
    id: r.id,
    subject: { type: r.subjectType, id: r.subjectId },
    project: v.projectSlug,
    title: r.title,
    status: r.status,
    permission: r.permission,
    requester: v.requester.handle,
    requiredApprovals: r.requiredApprovals,
    approvals: v.decisions.filter((d) => d.decision === 'approve').length,
    fields: r.details.fields,
    decisions: v.decisions.map((d) => ({
      approver: d.approverHandle,
      decision: d.decision,
      comment: d.comment,
      at: d.decidedAt.toISOString(),
    })),
    expiresAt: r.expiresAt.toISOString(),
    createdAt: r.createdAt.toISOString(),
    decidedAt: r.decidedAt ? r.decidedAt.toISOString() : null,
  };
}

/** The requester, anyone who may decide it, and auditors of its project may read a request. */
async function readable(deps: Deps, actor: Actor, id: number): Promise<ApprovalView> {
  const view = await getApprovalView(deps, id);
  const r = view.request;
  const mine = r.requesterId === actor.user.id && !actor.tokenScopes;
  if (!mine && !mayDecide(actor, r) && !can(actor, 'audit:read', r.projectId)) {
    throw new AppError('not_found', `approval request #${id} does not exist or is not yours to see`);
  }
  return view;
}

const IdParam = z.object({ id: z.coerce.number().int().min(1) });
const Comment = z.object({ comment: z.string().max(500).optional() }).strict();

function decisionRoute(verb: 'approve' | 'deny') {
  return defineRoute({
    method: 'post',
    path: `/approvals/{id}/${verb}`,
    operationId: `${verb}Approval`,
    summary: `${verb === 'approve' ? 'Approve' : 'Deny'} a request (never your own); the last needed approval completes it`,
    tag: 'approvals',
    permission: null,
    params: IdParam,
    body: Comment,
    response: z.object({
      outcome: z.enum(['recorded', 'approved', 'denied']),
      approval: ApprovalRequestView,
    }),
    handler: async ({ params, body, deps, actor }) => {
      const result = await decide(deps, {
        actor,
        requestId: params.id,
        decision: verb,
        comment: body.comment ?? null,
      });
      return { outcome: result.outcome, approval: approvalView(await getApprovalView(deps, params.id)) };
    },
  });
}

export const approvalRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/approvals',
    operationId: 'listApprovals',
    summary: 'Pending requests waiting for your decision, and your own open requests',
    tag: 'approvals',
    permission: null,
    response: z.object({ toDecide: z.array(ApprovalRequestView), mine: z.array(ApprovalRequestView) }),
    handler: async ({ deps, actor }) => {
      const now = deps.clock.now();
      const candidates = await listPendingNotDecidedBy(deps.sql, actor.user.id, now);
      const toDecide = candidates.filter((r) => mayDecide(actor, r));
      const mine = actor.tokenScopes ? [] : await listPendingByRequester(deps.sql, actor.user.id, now);
      const views = async (list: typeof mine) =>
        Promise.all(list.map(async (r) => approvalView(await getApprovalView(deps, r.id))));
      return { toDecide: await views(toDecide), mine: await views(mine) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/approvals/{id}',
    operationId: 'getApproval',
    summary: 'One approval request with its decisions',
    tag: 'approvals',
    permission: null,
    params: IdParam,
    response: ApprovalRequestView,
    handler: async ({ params, deps, actor }) => approvalView(await readable(deps, actor, params.id)),
  }),
  decisionRoute('approve'),
  decisionRoute('deny'),
  defineRoute({
    method: 'post',
    path: '/approvals/{id}/cancel',
    operationId: 'cancelApproval',
    summary: 'Withdraw a request you opened',
    tag: 'approvals',
    permission: null,
    params: IdParam,
    body: z.object({ reason: z.string().max(500).optional() }).strict(),
    response: ApprovalRequestView,
    handler: async ({ params, body, deps, actor }) => {
      await cancelApproval(deps, { actor, requestId: params.id, reason: body.reason ?? null });
      return approvalView(await getApprovalView(deps, params.id));
    },
  }),
];
