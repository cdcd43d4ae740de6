import type { Field, Reply, SubjectRef } from '../../bot/chat/model.js';
import { AppError } from '../../lib/errors.js';
import {
  type ApprovalRequest,
  insertApprovalRequest,
  lockPendingForSubject,
} from '../../storage/approvals.js';
import type { Tx } from '../../storage/db.js';
import { getProjectById } from '../../storage/inventory.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import type { Actor } from '../rbac/authorize.js';
import type { Permission } from '../rbac/roles.js';
import { approvalPolicy } from './policy.js';
import { type ApprovalView, formatUtc, renderApprovalMessage } from './render.js';
import {
  actorFacts,
  approvalRef,
  DEFAULT_ESCALATION_PERMISSION,
  eligibleApprovers,
  finishRequest,
  messageUpdate,
  threadReply,
  trailActor,
} from './state.js';

export interface OpenApprovalInput {
  /** The thing waiting on the approval; one pending request per subject at a time. */
  subject: SubjectRef;
  projectId: number | null;
  requester: Actor;
  /** What approvers must hold on the project (global-only permissions are checked globally). */
  permission: Permission;
  /** Distinct approvers needed (1–10). Default: the project's policy. */
  requiredApprovals?: number;
  /** Default: now + the project's `expiresIn`. */
  expiresAt?: Date;
  /** undefined: the project's `remindAfter`; null: no reminder. */
  remindAt?: Date | null;
  /** undefined: the project's `escalateAfter`; null: no escalation. */
  escalateAt?: Date | null;
  escalationPermission?: Permission;
  /** Does one deny end the request? Default true. */
  denyEnds?: boolean;
  title: string;
  /** Shown on the message. */
  details?: Field[];
  /** Kept for the subject's hooks, never shown. No secrets: it is copied to the trail. */
  data?: Record<string, unknown>;
}

export interface OpenedApproval {
  request: ApprovalRequest;
  /** The message as posted; the command that opened it usually answers privately instead. */
  message: Reply;
  /** Who may decide it now (never the requester). */
  approvers: { id: number; handle: string }[];
}

const MAX_TITLE = 200;

/**
 * Open an approval request inside the caller's transaction: the row, the `approval.requested`
 * trail event, the message with Approve/Deny/Details buttons, and a thread reply naming who may
 * decide. Throws `conflict` when the subject already has a pending request.
 */
export async function openApproval(tx: Tx, deps: Deps, input: OpenApprovalInput): Promise<OpenedApproval> {
  const now = deps.clock.now();
  const title = input.title.replace(/\s+/g, ' ').trim();
  if (!title || title.length > MAX_TITLE) {
    throw new AppError('bad_request', `an approval needs a title of 1 to ${MAX_TITLE} characters`);
  }
  const project = input.projectId === null ? undefined : await getProjectById(tx, input.projectId);
  if (input.projectId !== null && !project) {
    throw new AppError(
      'not_found',
      `project #${input.projectId} does not exist; type \`projects\` to list them`,
    );
  }
  const policy = approvalPolicy(project ?? null);
  const required = input.requiredApprovals ?? policy.required;
  if (!Number.isInteger(required) || required < 1 || required > 10) {
    throw new AppError('bad_request', `an approval needs between 1 and 10 approvers, not ${required}`);
  }
  const expiresAt = input.expiresAt ?? new Date(now.getTime() + policy.expiresInMs);
  if (Number.isNaN(expiresAt.getTime()) || expiresAt <= now) {
    throw new AppError('bad_request', 'an approval must expire in the future');
  }
  const step = (given: Date | null | undefined, afterMs: number | null): Date | null => {
    const at = given === undefined ? (afterMs === null ? null : new Date(now.getTime() + afterMs)) : given;
    // a reminder or escalation due after the request has expired would never be sent
    return at && at < expiresAt ? at : null;
  };

  const existing = await lockPendingForSubject(tx, input.subject.type, input.subject.id);
  if (existing && existing.expiresAt <= now) {
    await finishRequest(tx, deps, existing, { status: 'expired', actor: 'system', reason: null });
  } else if (existing) {
    throw new AppError(
      'conflict',
      `this already has a pending approval (#${existing.id}, opened ${formatUtc(existing.createdAt)}); wait for it to be decided, or cancel it with \`approvals cancel ${existing.id}\``,
      { details: { requestId: existing.id } },
    );
  }

  const request = await insertApprovalRequest(tx, {
    subjectType: input.subject.type,
    subjectId: input.subject.id,
    projectId: input.projectId,
    requesterId: input.requester.user.id,
    permission: input.permission,
    requiredApprovals: required,
    denyEnds: input.denyEnds ?? true,
    title,
    details: { fields: input.details ?? [], data: input.data ?? {} },
    expiresAt,
    remindAt: step(input.remindAt, policy.remindAfterMs),
    escalateAt: step(input.escalateAt, policy.escalateAfterMs),
    escalationPermission: input.escalationPermission ?? DEFAULT_ESCALATION_PERMISSION,
    createdAt: now,
  }).catch((error: unknown) => {
    // two requests for one subject at the same moment: the unique pending index lets one through
    if ((error as { code?: string }).code === '23505') {
      throw new AppError(
        'conflict',
        'this already has a pending approval (opened a moment ago); wait for it to be decided',
      );
    }
    throw error;
  });
  const view: ApprovalView = {
    request,
    decisions: [],
    requester: input.requester.user,
    projectSlug: project?.slug ?? null,
  };
  const approvers = await eligibleApprovers(tx, request, 'approvers');
  const who = approvers.length
    ? `Waiting for ${required} approval${required === 1 ? '' : 's'} from: ${approvers.map((u) => u.handle).join(', ')}.`
    : `Nobody but the requester holds ${request.permission} here yet, so this will expire unless an admin grants it to someone.`;
  const message = renderApprovalMessage(view);
  await recordEvent(
    tx,
    deps,
    {
      actor: trailActor(input.requester),
      action: 'approval.requested',
      subject: approvalRef(request.id),
      projectId: request.projectId,
      data: {
        subjectType: request.subjectType,
        subjectId: request.subjectId,
        title,
        permission: request.permission,
        required,
        expiresAt: expiresAt.toISOString(),
        data: request.details.data,
        ...actorFacts(input.requester),
      },
    },
    [messageUpdate(view), threadReply(request, who, approvers.length ? 'info' : 'warning')],
  );
  return { request, message, approvers: approvers.map((u) => ({ id: u.id, handle: u.handle })) };
}
