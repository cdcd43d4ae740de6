import { type AccessRequest, type Grant, setAccessRequestApproval } from '../../storage/access.js';
import type { Tx } from '../../storage/db.js';
import type { Project } from '../../storage/inventory.js';
import { openApproval } from '../approvals/engine.js';
import { formatUtc } from '../approvals/render.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { formatDuration } from '../grammar.js';
import type { Actor } from '../rbac/authorize.js';
import { createGrant } from './grant.js';
import { requestFields, securityPost } from './notify.js';

/**
 * Break-glass: access at once, with noise. In one transaction the grant is created (installed
 * after the commit like any other), the project's security channel is told loudly, and a
 * mandatory review opens: an approval of subject `access-review` that an approver must answer.
 * Approve acknowledges it; Deny revokes the grant on the spot; the requester cannot withdraw it.
 */
export const ACCESS_REVIEW_SUBJECT = 'access-review';
const REVIEW_WINDOW_MS = 7 * 86_400_000;

export async function openBreakGlass(
  tx: Tx,
  deps: Deps,
  input: { actor: Actor; request: AccessRequest; project: Project; ticketVerified: boolean },
): Promise<{ request: AccessRequest; grant: Grant; reviewId: number }> {
  const { actor, request, project } = input;
  const now = deps.clock.now();
  const who = actor.user.handle;
  const review = await openApproval(tx, deps, {
    subject: { type: ACCESS_REVIEW_SUBJECT, id: String(request.id) },
    projectId: project.id,
    requester: actor,
    permission: 'access:approve',
    requiredApprovals: 1,
    expiresAt: new Date(now.getTime() + REVIEW_WINDOW_MS),
    title: `Review break-glass access by ${who} to ${request.scopeName} as ${request.login} (Approve = justified, Deny = revoke now)`,
    details: requestFields(request, [
      {
        label: 'Ticket checked',
        value: input.ticketVerified ? 'yes' : 'no: the ticket system could not be reached',
      },
    ]),
    data: { accessRequestId: request.id },
  });
  await setAccessRequestApproval(tx, request.id, review.request.id);
  const grant = await createGrant(tx, deps, {
    request: { ...request, approvalId: review.request.id },
    approvalId: review.request.id,
    actor: `user:${who}`,
  });
  await recordEvent(
    tx,
    deps,
    {
      actor: `user:${who}`,
      action: 'access.break-glass',
      subject: { type: 'grant', id: String(grant.id) },
      projectId: project.id,
      data: {
        requestId: request.id,
        reviewId: review.request.id,
        login: request.login,
        servers: request.serverIds,
        durationMs: request.durationMs,
        ticket: request.ticket,
        ticketVerified: input.ticketVerified,
        reason: request.reason,
      },
    },
    [
      securityPost(project.id, {
        visibility: 'public',
        tone: 'error',
        header: `🚨 BREAK-GLASS: ${who} took access to ${request.scopeName} without approval`,
        text: `${actor.user.displayName} (${who}) granted themselves ${request.login} on ${request.scopeName} for ${formatDuration(request.durationMs)}, until ${formatUtc(grant.expiresAt)}. Ticket ${request.ticket}${input.ticketVerified ? '' : ' (not verified)'}. Reason: ${request.reason.replace(/\s+/g, ' ').slice(0, 300)}`,
        fields: [
          { label: 'Grant', value: `#${grant.id}` },
          { label: 'Review', value: `approval #${review.request.id} must be answered by an approver` },
        ],
        context: [`Revoke now: \`access revoke ${grant.id}\`, or Deny on review #${review.request.id}.`],
      }),
    ],
  );
  return { request: { ...request, approvalId: review.request.id }, grant, reviewId: review.request.id };
}
