import type { Field, Notification, Reply } from '../../bot/chat/model.js';
import type { AccessRequest } from '../../storage/access.js';
import { formatUtc } from '../approvals/render.js';
import type { OutboxWrite } from '../audit/trail.js';
import { formatDuration } from '../grammar.js';

/**
 * How access tells people: replies in the thread of the approval that a request or grant came
 * from (subject `{ type: 'approval', id }`, the engine's own thread), direct messages, and loud
 * posts to the project's security channel.
 */
export function approvalThread(approvalId: number | null, projectId: number, reply: Reply): Notification[] {
  if (approvalId === null) return [];
  return [{ kind: 'thread-reply', subject: { type: 'approval', id: String(approvalId) }, projectId, reply }];
}

export function threadText(
  approvalId: number | null,
  projectId: number,
  text: string,
  tone?: Reply['tone'],
): Notification[] {
  return approvalThread(approvalId, projectId, { visibility: 'public', text, ...(tone ? { tone } : {}) });
}

export function directMessage(userId: number, reply: Reply): Notification {
  return { kind: 'direct', userId, reply };
}

export function securityPost(projectId: number, reply: Reply): Notification {
  return { kind: 'channel-post', projectId, channelRole: 'security', reply };
}

/** Post-commit work for a grant: the outbox hands it to the access deliverer (commands/access/work.ts). */
export const ACCESS_OUTBOX_CHANNEL = 'access';

export function grantWorkItem(grantId: number): OutboxWrite {
  return {
    channel: ACCESS_OUTBOX_CHANNEL,
    kind: 'grant-work',
    payload: { grantId },
    orderingKey: `grant:${grantId}`,
  };
}

export function windowText(startsAt: Date, expiresAt: Date): string {
  return `${formatUtc(startsAt)} → ${formatUtc(expiresAt)}`;
}

/** What an access request's approval message shows. */
export function requestFields(r: AccessRequest, extra: Field[] = []): Field[] {
  return [
    { label: r.scope === 'server' ? 'Server' : 'Project (every server)', value: r.scopeName },
    { label: 'Login', value: r.login },
    { label: 'Duration', value: formatDuration(r.durationMs) },
    ...(r.requestedStart ? [{ label: 'Starts', value: formatUtc(r.requestedStart) }] : []),
    { label: 'Ticket', value: r.ticket },
    { label: 'Reason', value: r.reason },
    { label: 'Mode', value: r.mode },
    { label: 'Key', value: r.keyFingerprint },
    ...extra,
  ];
}
