import type { SubjectRef } from '../../bot/chat/model.js';
import { recordEvent, type TrailDeps } from '../../commands/audit/trail.js';
import { AppError } from '../../lib/errors.js';
import type { Tx } from '../../storage/db.js';
import { getTicketLink, hasPendingTicketOpen, insertTicketLink } from '../../storage/tickets.js';
import { clip } from './common.js';
import { TICKET_CHANNEL, TicketOpenItem, ticketOrderingKey } from './outbox.js';
import type { TicketKind, TicketSystem, TicketSystemName } from './types.js';

/**
 * What other capabilities call to keep a subject's ticket in step: link a ticket to a subject,
 * open a change request for it, and turn trail events into outbox items for the ticket. Every
 * item for one subject shares an ordering key, so the open goes first and comments land in order.
 */
export {
  describeEvent,
  TICKET_CHANNEL,
  TicketCommentItem,
  type TicketEvent,
  TicketOpenItem,
  TicketTransitionItem,
  ticketOrderingKey,
  ticketOutboxFor,
} from './outbox.js';

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
