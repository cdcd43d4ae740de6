import type { Notification, Reply, SubjectRef } from '../../bot/chat/model.js';
import { AppError } from '../../lib/errors.js';
import {
  type ApprovalDecisionRow,
  type ApprovalRequest,
  type ApprovalStatus,
  finishApprovalRequest,
  listApprovalDecisions,
} from '../../storage/approvals.js';
import type { Queryable, Tx } from '../../storage/db.js';
import { getProjectById } from '../../storage/inventory.js';
import { getUser, type User } from '../../storage/users.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { type Actor, can, usersWithPermission } from '../rbac/authorize.js';
import { GLOBAL_ONLY, isPermission, type Permission } from '../rbac/roles.js';
import { type ApprovalView, finalLine, renderApprovalMessage } from './render.js';
import type { ApprovalHook } from './subjects.js';

/** Internals shared by the engine and the sweep; not part of the capability's surface. */

export const DEFAULT_ESCALATION_PERMISSION: Permission = 'approvals:escalation';

export function approvalRef(id: number): SubjectRef {
  return { type: 'approval', id: String(id) };
}

/** The trail names the user, even when a token acted for them; `actorFacts` adds how they acted. */
export function trailActor(actor: Actor): string {
  return `user:${actor.user.handle}`;
}

export function actorFacts(actor: Actor): Record<string, unknown> {
  return { via: actor.via, ...(actor.tokenId !== undefined ? { tokenId: actor.tokenId } : {}) };
}

/** Permissions that only exist globally are checked globally, even on a project's request. */
export function checkScope(permission: Permission, projectId: number | null): number | null {
  return GLOBAL_ONLY.includes(permission) ? null : projectId;
}

function asPermission(value: string | null): Permission | undefined {
  return value && isPermission(value) ? value : undefined;
}

/** May `actor` decide `request`? The requester never may; after escalation, escalation holders may too. */
export function mayDecide(actor: Actor, request: ApprovalRequest): boolean {
  if (actor.user.id === request.requesterId) return false;
  const permission = asPermission(request.permission);
  if (permission && can(actor, permission, checkScope(permission, request.projectId))) return true;
  const escalation = asPermission(request.escalationPermission);
  return Boolean(
    request.escalatedAt && escalation && can(actor, escalation, checkScope(escalation, request.projectId)),
  );
}

/** Users who may decide now (minus the requester), optionally only the escalation holders. */
export async function eligibleApprovers(
  sql: Queryable,
  request: ApprovalRequest,
  which: 'approvers' | 'escalation' | 'all' = 'all',
): Promise<User[]> {
  const found = new Map<number, User>();
  const add = async (value: string | null) => {
    const permission = asPermission(value);
    if (!permission) return;
    for (const u of await usersWithPermission(sql, permission, checkScope(permission, request.projectId))) {
      if (u.id !== request.requesterId) found.set(u.id, u);
    }
  };
  if (which !== 'escalation') await add(request.permission);
  if (which === 'escalation' || (which === 'all' && request.escalatedAt))
    await add(request.escalationPermission);
  return [...found.values()].sort((a, b) => a.id - b.id);
}

export async function loadView(
  sql: Queryable,
  request: ApprovalRequest,
  decisions?: readonly ApprovalDecisionRow[],
): Promise<ApprovalView> {
  const requester = await getUser(sql, request.requesterId);
  const project = request.projectId === null ? undefined : await getProjectById(sql, request.projectId);
  return {
    request,
    decisions: decisions ?? (await listApprovalDecisions(sql, request.id)),
    requester: requester ?? { handle: `user-${request.requesterId}`, displayName: 'unknown user' },
    projectSlug: project?.slug ?? null,
  };
}

export function messageUpdate(view: ApprovalView): Notification {
  return {
    kind: 'subject-message',
    subject: approvalRef(view.request.id),
    projectId: view.request.projectId,
    reply: renderApprovalMessage(view),
  };
}

export function threadReply(request: ApprovalRequest, text: string, tone?: Reply['tone']): Notification {
  return {
    kind: 'thread-reply',
    subject: approvalRef(request.id),
    projectId: request.projectId,
    reply: { visibility: 'public', text, ...(tone ? { tone } : {}) },
  };
}

export function direct(userId: number, text: string, tone?: Reply['tone']): Notification {
  return { kind: 'direct', userId, reply: { visibility: 'private', text, ...(tone ? { tone } : {}) } };
}

/** The AppError for acting on a request that is no longer pending: says what happened and when. */
export function finishedError(view: ApprovalView): AppError {
  const { request } = view;
  const line = finalLine(view) ?? request.status;
  if (request.status === 'expired') {
    return new AppError(
      'expired',
      `approval #${request.id} ${line}; nothing was changed. Ask ${view.requester.handle} to open a new request if it is still needed.`,
      { details: { requestId: request.id, status: request.status } },
    );
  }
  return new AppError('already_decided', `this request was already ${line}; nothing was changed.`, {
    details: { requestId: request.id, status: request.status },
  });
}

const HOOK_NAME = {
  approved: 'onApproved',
  denied: 'onDenied',
  expired: 'onExpired',
  cancelled: 'onCancelled',
} as const;

const FINAL_TEXT: Record<Exclude<ApprovalStatus, 'pending'>, [string, Reply['tone']]> = {
  approved: ['is approved', 'success'],
  denied: ['was denied', 'error'],
  expired: ['expired', 'warning'],
  cancelled: ['was cancelled', 'warning'],
};

/**
 * Move a locked, pending request to its final state: the row, one trail event with the updated
 * message, a thread reply and a note to the requester, then the subject's hook, all in `tx`.
 */
export async function finishRequest(
  tx: Tx,
  deps: Deps,
  request: ApprovalRequest,
  input: { status: Exclude<ApprovalStatus, 'pending'>; actor: string; reason: string | null; data?: object },
  /** The request's view as the caller already loaded it in this transaction (saves reading it again). */
  known?: ApprovalView,
): Promise<ApprovalView> {
  const subject = deps.approvalSubjects?.get(request.subjectType);
  const hook: ApprovalHook | undefined = subject?.[HOOK_NAME[input.status]];
  if (input.status === 'approved' && !hook) {
    // Approving something nobody will act on would tell the requester a lie; refuse instead.
    throw new AppError(
      'unavailable',
      `this Warden cannot complete ${request.subjectType} requests (its handler is not loaded); nothing was changed. Tell an admin.`,
    );
  }
  const now = deps.clock.now();
  const finished = await finishApprovalRequest(tx, {
    id: request.id,
    status: input.status,
    at: now,
    reason: input.reason,
  });
  if (!finished) throw new Error(`approval ${request.id} was not pending although it was locked`);
  const view: ApprovalView =
    known && known.request.id === request.id ? { ...known, request: finished } : await loadView(tx, finished);
  const [verb, tone] = FINAL_TEXT[input.status];
  const sentence = `Approval #${request.id} (${request.title}) ${verb}: ${finalLine(view)}.`;
  await recordEvent(
    tx,
    deps,
    {
      actor: input.actor,
      action: `approval.${input.status}`,
      subject: approvalRef(request.id),
      projectId: request.projectId,
      data: {
        subjectType: request.subjectType,
        subjectId: request.subjectId,
        reason: input.reason,
        approvals: view.decisions.filter((d) => d.decision === 'approve').map((d) => d.approverHandle),
        ...input.data,
      },
    },
    [
      messageUpdate(view),
      threadReply(finished, sentence, tone),
      // the requester cancelled it themselves: no need to tell them
      ...(input.status === 'cancelled' ? [] : [direct(finished.requesterId, sentence, tone)]),
    ],
  );
  await hook?.(tx, deps, finished, { decisions: view.decisions, actor: input.actor });
  return view;
}
