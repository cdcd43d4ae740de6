import type { Tx } from '../../storage/db.js';
import { matchingSubscriptionIds } from '../../storage/webhooks.js';
import type { AuditEvent, OutboxWrite } from '../audit/trail.js';

/**
 * The trail's hook into webhooks: for an event just appended, one outbox row per active
 * subscription that wants it, on channel `webhook`, written in the same transaction as the event.
 * Callers of recordEvent never need to know. The query is one indexed lookup; with no
 * subscriptions it reads an empty index and returns at once.
 */
export const WEBHOOK_CHANNEL = 'webhook';
export const WEBHOOK_KIND = 'event';

/** What a receiver gets as the body (plus `id`, the delivery key, added when sent). */
export interface WebhookEventBody {
  seq: number;
  type: string;
  at: string;
  actor: string;
  subject: { type: string; id: string } | null;
  projectId: number | null;
  data: Record<string, unknown>;
}

export function webhookBodyOf(event: Omit<AuditEvent, 'hash' | 'prevHash'>): WebhookEventBody {
  return {
    seq: event.seq,
    type: event.action,
    at: event.at.toISOString(),
    actor: event.actor,
    subject: event.subjectType === null ? null : { type: event.subjectType, id: event.subjectId ?? '' },
    projectId: event.projectId,
    data: event.data,
  };
}

export async function webhookOutboxFor(
  tx: Tx,
  event: Omit<AuditEvent, 'hash' | 'prevHash'>,
): Promise<OutboxWrite[]> {
  const ids = await matchingSubscriptionIds(tx, { action: event.action, projectId: event.projectId });
  if (ids.length === 0) return [];
  const body = webhookBodyOf(event);
  return ids.map((subscriptionId) => ({
    channel: WEBHOOK_CHANNEL,
    kind: WEBHOOK_KIND,
    payload: { subscriptionId, event: body },
  }));
}
