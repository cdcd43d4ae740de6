import { z } from 'zod';
import type { Notification } from '../../bot/chat/model.js';
import { AppError } from '../../lib/errors.js';
import {
  type AccessRequestStatus,
  finishAccessRequest,
  type Grant,
  lockAccessRequest,
  lockGrant,
  lockGrantByRequest,
  markGrantReviewed,
} from '../../storage/access.js';
import type { ApprovalRequest } from '../../storage/approvals.js';
import type { Tx } from '../../storage/db.js';
import type { ApprovalHook, ApprovalSubject } from '../approvals/subjects.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { ACCESS_REVIEW_SUBJECT } from './break-glass.js';
import { createGrant, extendGrant } from './grant.js';
import { securityPost, threadText } from './notify.js';
import { ACCESS_REQUEST_SUBJECT } from './request.js';
import { revokeGrantTx } from './revoke.js';

/**
 * The approval hooks of access. They run inside the engine's transaction, so an approval and the
 * grant it creates commit together; the servers are touched only after that commit.
 */
const HookData = z.object({ accessRequestId: z.number().int().positive() });

async function lockRequestOf(tx: Tx, approval: ApprovalRequest) {
  const { accessRequestId } = HookData.parse(approval.details.data);
  const request = await lockAccessRequest(tx, accessRequestId);
  if (!request) throw new AppError('not_found', `access request #${accessRequestId} no longer exists`);
  return request;
}

function settle(status: Exclude<AccessRequestStatus, 'pending' | 'approved'>): ApprovalHook {
  return async (tx, deps, approval) => {
    const request = await lockRequestOf(tx, approval);
    await finishAccessRequest(tx, request.id, status, deps.clock.now());
  };
}

/** `access-request`: approved → the grant (or the extension); otherwise the request just ends. */
export const accessRequestSubject: ApprovalSubject = {
  type: ACCESS_REQUEST_SUBJECT,
  async onApproved(tx, deps, approval, context) {
    const request = await lockRequestOf(tx, approval);
    if (!(await finishAccessRequest(tx, request.id, 'approved', deps.clock.now()))) {
      throw new AppError('conflict', `access request #${request.id} was already ${request.status}`);
    }
    if (request.extendsGrantId === null) {
      await createGrant(tx, deps, { request, approvalId: approval.id, actor: context.actor });
      return;
    }
    const grant = await lockGrant(tx, request.extendsGrantId);
    if (!grant) throw new AppError('not_found', `grant #${request.extendsGrantId} no longer exists`);
    await extendGrant(tx, deps, { grant, request, approvalId: approval.id, actor: context.actor });
  },
  onDenied: settle('denied'),
  onExpired: settle('expired'),
  onCancelled: settle('cancelled'),
};

async function grantOfReview(tx: Tx, approval: ApprovalRequest) {
  const request = await lockRequestOf(tx, approval);
  const grant = await lockGrantByRequest(tx, request.id);
  if (!grant)
    throw new AppError('not_found', `the grant of break-glass request #${request.id} no longer exists`);
  return grant;
}

async function reviewEvent(
  tx: Tx,
  deps: Deps,
  approval: ApprovalRequest,
  event: { action: string; actor: string; text: string; alert?: (grant: Grant) => Notification },
): Promise<Grant> {
  const grant = await grantOfReview(tx, approval);
  await recordEvent(
    tx,
    deps,
    {
      actor: event.actor,
      action: event.action,
      subject: { type: 'grant', id: String(grant.id) },
      projectId: grant.projectId,
      data: { reviewId: approval.id },
    },
    [
      ...threadText(approval.id, grant.projectId, event.text.replace('{grant}', `#${grant.id}`)),
      ...(event.alert ? [event.alert(grant)] : []),
    ],
  );
  return grant;
}

/**
 * `access-review`: the mandatory look at a break-glass. Approve acknowledges it; Deny revokes the
 * grant at once; an unanswered review is reported to the security channel when it expires; the
 * requester can never withdraw it.
 */
export const accessReviewSubject: ApprovalSubject = {
  type: ACCESS_REVIEW_SUBJECT,
  async onApproved(tx, deps, approval, context) {
    const grant = await reviewEvent(tx, deps, approval, {
      action: 'access.reviewed',
      actor: context.actor,
      text: 'Break-glass grant {grant} reviewed and acknowledged.',
    });
    const last = [...context.decisions].reverse().find((d) => d.decision === 'approve');
    if (last) await markGrantReviewed(tx, grant.id, last.approverId, deps.clock.now());
  },
  async onDenied(tx, deps, approval, context) {
    const grant = await grantOfReview(tx, approval);
    if (grant.status === 'active') {
      await revokeGrantTx(tx, deps, {
        grant,
        actor: context.actor,
        reason: `break-glass review #${approval.id} denied`,
      });
    }
  },
  async onExpired(tx, deps, approval, context) {
    await reviewEvent(tx, deps, approval, {
      action: 'access.review-expired',
      actor: context.actor,
      text: 'Nobody reviewed break-glass grant {grant} in time.',
      alert: (grant) =>
        securityPost(grant.projectId, {
          visibility: 'public',
          tone: 'error',
          header: `Break-glass grant #${grant.id} was never reviewed`,
          text: `Review #${approval.id} of ${grant.login}'s emergency access expired unanswered. Look at the trail for grant #${grant.id}.`,
        }),
    });
  },
  async onCancelled() {
    throw new AppError('forbidden', 'a break-glass review cannot be withdrawn; an approver must answer it');
  },
};

export const accessApprovalSubjects: readonly ApprovalSubject[] = [accessRequestSubject, accessReviewSubject];
