import type { Queryable } from './db.js';

/**
 * Queries behind integrations/tickets: which ticket belongs to which subject, and which inbound
 * webhook deliveries were already acted on. Every time is passed in (the caller's clock).
 */
export type TicketSystemName = 'jira' | 'servicenow';

export interface TicketLink {
  subjectType: string;
  subjectId: string;
  system: TicketSystemName;
  key: string;
  url: string;
  createdAt: Date;
}

const linkColumns = (sql: Queryable) => sql`
  subject_type as "subjectType", subject_id as "subjectId", system, key, url, created_at as "createdAt"`;

/** Link a subject to its ticket; the first link wins (a re-delivered open keeps the original). */
export async function insertTicketLink(
  sql: Queryable,
  input: {
    subject: { type: string; id: string };
    system: TicketSystemName;
    key: string;
    url: string;
    at: Date;
  },
): Promise<boolean> {
  const rows = await sql`
    insert into ticket_links (subject_type, subject_id, system, key, url, created_at)
    values (${input.subject.type}, ${input.subject.id}, ${input.system}, ${input.key}, ${input.url}, ${input.at})
    on conflict (subject_type, subject_id, system) do nothing
    returning key`;
  return rows.length === 1;
}

/** The subject's ticket in `system`, or in any system when none is named. */
export async function getTicketLink(
  sql: Queryable,
  subject: { type: string; id: string },
  system?: TicketSystemName,
): Promise<TicketLink | undefined> {
  const [row] = await sql<TicketLink[]>`
    select ${linkColumns(sql)} from ticket_links
    where subject_type = ${subject.type} and subject_id = ${subject.id}
      ${system ? sql`and system = ${system}` : sql``}
    order by created_at, system
    limit 1`;
  return row;
}

/** Every subject linked to one ticket (an access ticket may serve several requests). */
export async function listSubjectsForTicket(
  sql: Queryable,
  system: TicketSystemName,
  key: string,
): Promise<TicketLink[]> {
  return sql<TicketLink[]>`
    select ${linkColumns(sql)} from ticket_links
    where system = ${system} and key = ${key}
    order by created_at, subject_type, subject_id`;
}

/** Is an open of a ticket for this subject still waiting in the outbox? */
export async function hasPendingTicketOpen(sql: Queryable, orderingKey: string): Promise<boolean> {
  const rows = await sql`
    select 1 from outbox
    where channel = 'ticket' and kind = 'ticket.open' and status = 'pending' and ordering_key = ${orderingKey}
    limit 1`;
  return rows.length > 0;
}

/** Remember an inbound delivery; false when it was already seen (a retry or a replay). */
export async function recordTicketDelivery(
  sql: Queryable,
  input: { system: TicketSystemName; deliveryId: string; at: Date },
): Promise<boolean> {
  const rows = await sql`
    insert into ticket_inbound (system, delivery_id, received_at)
    values (${input.system}, ${input.deliveryId}, ${input.at})
    on conflict (system, delivery_id) do nothing
    returning delivery_id`;
  return rows.length === 1;
}

/** The subject an approval request decides on (an access request, a patch plan, …). */
export async function getApprovalSubject(
  sql: Queryable,
  approvalId: number,
): Promise<{ type: string; id: string } | undefined> {
  const [row] = await sql<{ type: string; id: string }[]>`
    select subject_type as type, subject_id as id from approval_requests where id = ${approvalId}`;
  return row;
}

/** Does any subject have a ticket, or one on its way? Lets the trail skip ticket work entirely. */
export function anyTicketsSql(sql: Queryable) {
  return sql`(exists (select 1 from ticket_links)
    or exists (select 1 from outbox where channel = 'ticket' and kind = 'ticket.open' and status = 'pending'))`;
}

/** Give `to` the same tickets as `from` (a grant inherits its request's ticket). */
export async function copyTicketLinks(
  sql: Queryable,
  input: { from: { type: string; id: string }; to: { type: string; id: string }; at: Date },
): Promise<void> {
  await sql`
    insert into ticket_links (subject_type, subject_id, system, key, url, created_at)
    select ${input.to.type}, ${input.to.id}, system, key, url, ${input.at}
    from ticket_links where subject_type = ${input.from.type} and subject_id = ${input.from.id}
    on conflict (subject_type, subject_id, system) do nothing`;
}
