import { z } from 'zod';
import type { SubjectRef } from '../../bot/chat/model.js';
import type { OutboxWrite } from '../../commands/audit/trail.js';
import type { Queryable } from '../../storage/db.js';
import { getApprovalSubject, getTicketLink, hasPendingTicketOpen } from '../../storage/tickets.js';
import { clip } from './common.js';
import { TICKET_TRANSITIONS, type TicketTransition } from './types.js';

/**
 * How trail events become items on the 'ticket' outbox channel. This module does not write the
 * trail itself, so commands/audit/trail.ts can call it for every event without an import cycle.
 */
export const TICKET_CHANNEL = 'ticket';

export function ticketOrderingKey(subject: SubjectRef): string {
  return `ticket:${subject.type}:${subject.id}`;
}

const Subject = z.object({ type: z.string().min(1).max(100), id: z.string().min(1).max(200) });

/** The payloads of the 'ticket' outbox channel, checked again by the deliverer before sending. */
export const TicketOpenItem = z.object({
  subject: Subject,
  projectId: z.number().nullable().optional(),
  kind: z.enum(['change', 'incident']),
  summary: z.string().min(1).max(1000),
  description: z.string().max(100_000),
  fields: z.record(z.string(), z.unknown()).optional(),
});
export type TicketOpenItem = z.infer<typeof TicketOpenItem>;

export const TicketCommentItem = z.object({
  subject: Subject,
  /** Set when the key was known at write time; otherwise the deliverer reads ticket_links. */
  key: z.string().max(40).optional(),
  text: z.string().min(1).max(100_000),
});
export type TicketCommentItem = z.infer<typeof TicketCommentItem>;

export const TicketTransitionItem = TicketCommentItem.extend({
  to: z.enum(TICKET_TRANSITIONS as [TicketTransition, ...TicketTransition[]]),
});
export type TicketTransitionItem = z.infer<typeof TicketTransitionItem>;

/** A trail event as a ticket should hear it. */
export interface TicketEvent {
  actor: string;
  action: string;
  /** The comment; without it one is written from action, actor and data. */
  text?: string;
  data?: Record<string, unknown>;
  /** Also move the ticket (the comment goes with the transition). */
  transition?: TicketTransition;
}

/** A readable comment from an event that brought no text of its own. */
export function describeEvent(event: TicketEvent): string {
  const lines = [`Warden: ${event.action} by ${event.actor}`];
  for (const [k, v] of Object.entries(event.data ?? {}).slice(0, 20)) {
    if (v === null || v === undefined) continue;
    const value = typeof v === 'object' ? JSON.stringify(v) : String(v);
    lines.push(`${k}: ${clip(value, 200)}`);
  }
  return lines.join('\n');
}

/**
 * The outbox rows that tell `subject`'s ticket about `event`, or [] when the subject has no ticket
 * (none linked and none being opened). Pass the result as recordEvent's `extraOutbox`.
 *
 * @example
 * const writes = await ticketOutboxFor(tx, subject, { actor, action: 'patch.started', transition: 'in-progress' });
 * await recordEvent(tx, deps, { actor, action: 'patch.started', subject }, notifications, writes);
 */
export async function ticketOutboxFor(
  tx: Queryable,
  subject: SubjectRef,
  event: TicketEvent,
): Promise<OutboxWrite[]> {
  const subjectKey = ticketOrderingKey(subject);
  const link = await getTicketLink(tx, subject);
  if (!link && !(await hasPendingTicketOpen(tx, subjectKey))) return [];
  // Once the ticket is known, everything that reaches it (from the request, its grant, its
  // approval…) shares one ordering key, so comments land on it in the order they happened.
  // Before that, items wait behind the subject's pending open.
  const orderingKey = link ? `ticket:${link.system}:${link.key}` : subjectKey;
  const text = clip(event.text?.trim() || describeEvent(event), 100_000);
  const base = { subject: { type: subject.type, id: subject.id }, ...(link ? { key: link.key } : {}), text };
  if (event.transition) {
    return [
      {
        channel: TICKET_CHANNEL,
        kind: 'ticket.transition',
        payload: { ...base, to: event.transition },
        orderingKey,
      },
    ];
  }
  return [{ channel: TICKET_CHANNEL, kind: 'ticket.comment', payload: base, orderingKey }];
}

/**
 * The ticket items for one trail event, called by recordEvent for every event: a subject that
 * has a ticket (or one being opened) hears about everything that happens to it. An event about
 * an approval also reaches the ticket of the thing being approved. Subjects the caller already
 * wrote a ticket item for (a transition, say) are left alone, and `ticket.*` events, which are
 * about the ticket itself, are not echoed back to it.
 */
export async function ticketWritesForEvent(
  tx: Queryable,
  event: {
    actor: string;
    action: string;
    subjectType: string | null;
    subjectId: string | null;
    data: Record<string, unknown>;
  },
  already: readonly OutboxWrite[],
): Promise<OutboxWrite[]> {
  if (!event.subjectType || !event.subjectId || event.action.startsWith('ticket.')) return [];
  const subjects: SubjectRef[] = [{ type: event.subjectType, id: event.subjectId }];
  if (event.subjectType === 'approval' && /^\d{1,15}$/.test(event.subjectId)) {
    const approved = await getApprovalSubject(tx, Number(event.subjectId));
    if (approved) subjects.push(approved);
  }
  const writes: OutboxWrite[] = [];
  for (const subject of subjects) {
    if (already.some((w) => w.channel === TICKET_CHANNEL && sameSubject(w.payload.subject, subject)))
      continue;
    writes.push(
      ...(await ticketOutboxFor(tx, subject, { actor: event.actor, action: event.action, data: event.data })),
    );
  }
  return writes;
}

function sameSubject(value: unknown, subject: SubjectRef): boolean {
  const v = value as { type?: unknown; id?: unknown } | undefined;
  return v?.type === subject.type && v?.id === subject.id;
}
