import type { Reply } from '../../bot/chat/model.js';
import { AppError } from '../../lib/errors.js';
import {
  type ApprovalDecisionRow,
  type ApprovalRequest,
  type ApprovalVerdict,
  getApprovalRequest,
  insertApprovalDecision,
  listApprovalDecisions,
  lockApprovalRequest,
} from '../../storage/approvals.js';
import { withTx } from '../../storage/db.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import type { Actor } from '../rbac/authorize.js';
import { type ApprovalView, approvalCount, formatUtc, renderApprovalMessage } from './render.js';
import {
  actorFacts,
  approvalRef,
  eligibleApprovers,
  finishedError,
  finishRequest,
  loadView,
  mayDecide,
  messageUpdate,
  threadReply,
  trailActor,
} from './state.js';

export { type OpenApprovalInput, type OpenedApproval, openApproval } from './open.js';
export { type ApprovalPolicy, approvalPolicy } from './policy.js';
export { type SweepResult, sweepApprovals } from './sweep.js';

const MAX_COMMENT = 500;

export interface DecideInput {
  actor: Actor;
  requestId: number;
  decision: ApprovalVerdict;
  comment?: string | null;
}

export interface DecisionResult {
  request: ApprovalRequest;
  decisions: ApprovalDecisionRow[];
  /** `recorded`: counted, still pending. */
  outcome: 'recorded' | 'approved' | 'denied';
  /** The message as it now reads (for `replaceOriginal`). */
  message: Reply;
}

function cleanComment(comment: string | null | undefined): string | null {
  const text = comment?.replace(/\s+/g, ' ').trim() ?? '';
  if (text.length > MAX_COMMENT) {
    throw new AppError(
      'bad_request',
      `keep the reason under ${MAX_COMMENT} characters (it has ${text.length})`,
    );
  }
  return text || null;
}

function outcomeOf(decision: ApprovalVerdict, request: ApprovalRequest, approvals: number) {
  if (decision === 'deny') return request.denyEnds ? ('denied' as const) : null;
  return approvals >= request.requiredApprovals ? ('approved' as const) : null;
}

function checkRequestId(id: number): void {
  if (!Number.isSafeInteger(id) || id < 1) {
    throw new AppError('bad_request', `${String(id).slice(0, 20)} is not an approval request number`);
  }
}

/** Refuse with the reason, after committing what the check itself changed (an overdue expiry). */
type Refusal = { refused: AppError };

/**
 * Record one approver's decision in its own transaction, the request locked FOR UPDATE.
 * Refuses (AppError, nothing changed) self-decisions, non-approvers, second decisions by the
 * same person and decisions on finished requests. A request past its expiry is expired on the
 * spot (committed) and the decision refused. N approvals approve; a deny ends it when `denyEnds`.
 */
export async function decide(deps: Deps, input: DecideInput): Promise<DecisionResult> {
  checkRequestId(input.requestId);
  const comment = cleanComment(input.comment);
  const { actor } = input;
  const result = await withTx(deps.sql, async (tx): Promise<DecisionResult | Refusal> => {
    const request = await lockApprovalRequest(tx, input.requestId);
    if (!request) {
      throw new AppError(
        'not_found',
        `approval request #${input.requestId} does not exist; type \`approvals\` to see what waits for you`,
      );
    }
    const now = deps.clock.now();
    if (request.status === 'pending' && request.expiresAt <= now) {
      const view = await finishRequest(tx, deps, request, {
        status: 'expired',
        actor: 'system',
        reason: null,
      });
      return { refused: finishedError(view) };
    }
    if (request.status !== 'pending') throw finishedError(await loadView(tx, request));
    if (actor.user.id === request.requesterId) {
      throw new AppError(
        'forbidden',
        `you opened request #${request.id}, so someone else must decide it; to withdraw it, type \`approvals cancel ${request.id}\``,
      );
    }
    if (!mayDecide(actor, request)) {
      const approvers = await eligibleApprovers(tx, request);
      const names = approvers.map((u) => u.handle).join(', ') || 'nobody yet';
      throw new AppError(
        'forbidden',
        `you cannot decide request #${request.id}: it needs the ${request.permission} permission${request.projectId === null ? '' : ' on its project'}. People who can: ${names}.`,
      );
    }
    const before = await listApprovalDecisions(tx, request.id);
    const mine = before.find((d) => d.approverId === actor.user.id);
    if (mine) {
      const left = request.requiredApprovals - approvalCount(before);
      const still =
        left > 0 ? ` It still needs ${left} more approval${left === 1 ? '' : 's'} from someone else.` : '';
      throw new AppError(
        'already_decided',
        `you already ${mine.decision === 'approve' ? 'approved' : 'denied'} request #${request.id} at ${formatUtc(mine.decidedAt)}; each person counts once.${still}`,
      );
    }
    await insertApprovalDecision(tx, {
      requestId: request.id,
      approverId: actor.user.id,
      decision: input.decision,
      comment,
      at: now,
    });
    // The request is locked, so nobody else added a decision since `before` was read.
    const decisions = withDecision(before, {
      requestId: request.id,
      approverId: actor.user.id,
      approverHandle: actor.user.handle,
      approverName: actor.user.displayName,
      decision: input.decision,
      comment,
      decidedAt: now,
    });
    const count = approvalCount(decisions);
    const ends = outcomeOf(input.decision, request, count);
    const view = await loadView(tx, request, decisions);
    const by = actor.user.handle;
    const progress = `${count} of ${request.requiredApprovals}`;
    await recordEvent(
      tx,
      deps,
      {
        actor: trailActor(actor),
        action: input.decision === 'approve' ? 'approval.approved-by' : 'approval.denied-by',
        subject: approvalRef(request.id),
        projectId: request.projectId,
        data: { by, comment, approvals: count, required: request.requiredApprovals, ...actorFacts(actor) },
      },
      ends
        ? []
        : [
            messageUpdate(view),
            threadReply(
              request,
              input.decision === 'approve'
                ? `✔ ${by} approved (${progress} approvals)${comment ? `: ${comment}` : ''}`
                : `✘ ${by} denied (a deny does not end this request; ${progress} approvals)${comment ? `: ${comment}` : ''}`,
            ),
          ],
    );
    if (!ends) return { request, decisions, outcome: 'recorded', message: renderApprovalMessage(view) };
    const finished = await finishRequest(
      tx,
      deps,
      request,
      { status: ends, actor: trailActor(actor), reason: ends === 'denied' ? comment : null },
      view,
    );
    return {
      request: finished.request,
      decisions,
      outcome: ends,
      message: renderApprovalMessage(finished),
    };
  });
  deps.kickOutbox?.();
  if ('refused' in result) throw result.refused;
  return result;
}

/** `decisions` plus one more, in listApprovalDecisions' order (time, then handle). */
function withDecision(
  decisions: readonly ApprovalDecisionRow[],
  added: ApprovalDecisionRow,
): ApprovalDecisionRow[] {
  return [...decisions, added].sort(
    (a, b) =>
      a.decidedAt.getTime() - b.decidedAt.getTime() ||
      (a.approverHandle < b.approverHandle ? -1 : a.approverHandle > b.approverHandle ? 1 : 0),
  );
}

/** The requester withdraws their pending request. Anyone else is refused. */
export async function cancelApproval(
  deps: Deps,
  input: { actor: Actor; requestId: number; reason?: string | null },
): Promise<{ request: ApprovalRequest; message: Reply }> {
  checkRequestId(input.requestId);
  const reason = cleanComment(input.reason);
  const result = await withTx(
    deps.sql,
    async (tx): Promise<{ request: ApprovalRequest; message: Reply } | Refusal> => {
      const request = await lockApprovalRequest(tx, input.requestId);
      if (!request) throw new AppError('not_found', `approval request #${input.requestId} does not exist`);
      if (request.requesterId !== input.actor.user.id) {
        throw new AppError('forbidden', `only the person who opened request #${request.id} can cancel it`);
      }
      if (request.status === 'pending' && request.expiresAt <= deps.clock.now()) {
        const view = await finishRequest(tx, deps, request, {
          status: 'expired',
          actor: 'system',
          reason: null,
        });
        return { refused: finishedError(view) };
      }
      if (request.status !== 'pending') throw finishedError(await loadView(tx, request));
      const view = await finishRequest(tx, deps, request, {
        status: 'cancelled',
        actor: trailActor(input.actor),
        reason,
      });
      return { request: view.request, message: renderApprovalMessage(view) };
    },
  );
  deps.kickOutbox?.();
  if ('refused' in result) throw result.refused;
  return result;
}

/** A request and its decisions as the message shows them, or a `not_found` AppError. */
export async function getApprovalView(deps: Deps, requestId: number): Promise<ApprovalView> {
  checkRequestId(requestId);
  const request = await getApprovalRequest(deps.sql, requestId);
  if (!request) throw new AppError('not_found', `approval request #${requestId} does not exist`);
  return loadView(deps.sql, request);
}
