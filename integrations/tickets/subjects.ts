import { z } from 'zod';
import type { SubjectRef } from '../../bot/chat/model.js';
import { type OutboxWrite, recordEvent, type TrailDeps } from '../../commands/audit/trail.js';
import { AppError } from '../../lib/errors.js';
import type { Queryable, Tx } from '../../storage/db.js';
import { getTicketLink, hasPendingTicketOpen, insertTicketLink } from '../../storage/tickets.js';
import { clip } from './common.js';
import {
  TICKET_TRANSITIONS,
  type TicketKind,
  type TicketSystem,
  type TicketSystemName,
  type TicketTransition,
} from './types.js';

/**
 * What other capabilities call to keep a subject's ticket in step: link a ticket to a subject,
 * open a change request for it, and turn trail events into outbox items for the ticket. Every
 * item for one subject shares an ordering key, so the open goes first and comments land in order.
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
  const orderingKey = ticketOrderingKey(subject);
  const link = await getTicketLink(tx, subject);
  if (!link && !(await hasPendingTicketOpen(tx, orderingKey))) return [];
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
 * Link a subject to a ticket that already exists (the ticket an access request names), on the
 * trail. Returns false when the subject already had a ticket in that system (kept as it was).
 */
export async function linkTicket(
  tx: Tx,
  deps: TrailDeps,
  input: {
    subject: SubjectRef;
    ticket: { system: TicketSystemName; key: string; url: string };
    actor: string;
    projectId?: number | null;
  },
): Promise<boolean> {
  const inserted = await insertTicketLink(tx, {
    subject: input.subject,
    ...input.ticket,
    at: deps.clock.now(),
  });
  if (inserted) {
    await recordEvent(tx, deps, {
      actor: input.actor,
      action: 'ticket.linked',
      subject: input.subject,
      projectId: input.projectId ?? null,
      data: { system: input.ticket.system, key: input.ticket.key, url: input.ticket.url },
    });
  }
  return inserted;
}

export interface OpenChangeRequestInput {
  subject: SubjectRef;
  summary: string;
  /** The plan: servers, packages and versions, CVEs, window, reboot. */
  description: string;
  kind?: TicketKind;
  fields?: Record<string, unknown>;
  actor?: string;
  projectId?: number | null;
}

/**
 * Ask for a change request (or an incident) for `subject`, through the outbox: the ticket is
 * opened after the commit, its key stored in ticket_links by the deliverer, and every later
 * ticketOutboxFor item for the subject waits behind the open. Does nothing (queued: false) when no
 * ticket system is configured, or when the subject already has a ticket or one on its way.
 */
export async function openChangeRequest(
  tx: Tx,
  deps: TrailDeps & { tickets?: TicketSystem },
  input: OpenChangeRequestInput,
): Promise<{ queued: boolean }> {
  if (!deps.tickets) return { queued: false };
  const orderingKey = ticketOrderingKey(input.subject);
  if (
    (await getTicketLink(tx, input.subject, deps.tickets.name)) ||
    (await hasPendingTicketOpen(tx, orderingKey))
  ) {
    return { queued: false };
  }
  const kind = input.kind ?? 'change';
  const parsed = TicketOpenItem.safeParse({
    subject: { type: input.subject.type, id: input.subject.id },
    projectId: input.projectId ?? null,
    kind,
    summary: clip(input.summary.trim(), 1000),
    description: clip(input.description, 100_000),
    ...(input.fields ? { fields: input.fields } : {}),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new AppError(
      'bad_request',
      `cannot open a ticket: ${issue.path.join('.') || 'input'} ${issue.message}`,
    );
  }
  const payload = parsed.data;
  await recordEvent(
    tx,
    deps,
    {
      actor: input.actor ?? 'system',
      action: 'ticket.requested',
      subject: input.subject,
      projectId: input.projectId ?? null,
      data: { system: deps.tickets.name, kind, summary: payload.summary },
    },
    [],
    [{ channel: TICKET_CHANNEL, kind: 'ticket.open', payload, orderingKey }],
  );
  return { queued: true };
}
