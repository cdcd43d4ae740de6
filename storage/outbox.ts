import type { Queryable } from './db.js';

/**
 * The outbox: what must be told elsewhere, written by the trail in the same transaction as the
 * audit event and sent later by jobs/outbox-worker.ts. Every time here is passed in (the
 * worker's clock), never SQL `now()`, so a fake clock drives retries and leases in tests.
 */
export interface OutboxItem {
  id: number;
  /** Which deliverer handles it: a chat platform name ('console', 'slack', 'teams') or 'jira', 'webhook', … */
  channel: string;
  kind: string;
  payload: Record<string, unknown>;
  /** The destination uses it to drop a duplicate when an item is sent twice (crash before marking). */
  idempotencyKey: string;
  orderingKey: string | null;
  auditSeq: number | null;
  /** Attempts so far, including the one this claim starts. */
  attempts: number;
  createdAt: Date;
}

export type OutboxStatus = 'pending' | 'delivered' | 'dead';

const itemColumns = (sql: Queryable) => sql`
  id, channel, kind, payload, idempotency_key as "idempotencyKey", ordering_key as "orderingKey",
  audit_seq as "auditSeq", attempts, created_at as "createdAt"`;

/**
 * Claim up to `limit` due items for `channels`, leasing them until `now + leaseMs`.
 *
 * An item waits while an earlier pending item shares its ordering key (a thread reply waits for
 * its subject's first post), so a key's items go out one at a time, in id order. SKIP LOCKED lets
 * several workers claim at once without taking the same row; the lease makes a claim by a worker
 * that crashed expire, so the item is sent again (with the same idempotency key).
 */
export async function claimDueOutbox(
  sql: Queryable,
  input: { now: Date; leaseMs: number; limit: number; channels: readonly string[] },
): Promise<OutboxItem[]> {
  if (input.channels.length === 0 || input.limit <= 0) return [];
  const lockedUntil = new Date(input.now.getTime() + input.leaseMs);
  const rows = await sql<OutboxItem[]>`
    with due as (
      select o.id from outbox o
      where o.status = 'pending'
        and o.channel = any(${input.channels as string[]})
        and o.next_attempt_at <= ${input.now}
        and (o.locked_until is null or o.locked_until < ${input.now})
        and (o.ordering_key is null or not exists (
          select 1 from outbox e
          where e.ordering_key = o.ordering_key and e.status = 'pending' and e.id < o.id))
      order by o.id
      limit ${input.limit}
      for update of o skip locked
    )
    update outbox set locked_until = ${lockedUntil}, attempts = attempts + 1
    where id in (select id from due)
    returning ${itemColumns(sql)}`;
  return [...rows].sort((a, b) => a.id - b.id);
}

export async function markOutboxDelivered(
  sql: Queryable,
  id: number,
  input: { at: Date; result: Record<string, unknown> },
): Promise<void> {
  await sql`
    update outbox set status = 'delivered', delivered_at = ${input.at}, result = ${sql.json(input.result as never)},
      locked_until = null, last_error = null
    where id = ${id} and status = 'pending'`;
}

/** Give the item back for another attempt at `nextAttemptAt`. */
export async function markOutboxFailed(
  sql: Queryable,
  id: number,
  input: { error: string; nextAttemptAt: Date },
): Promise<void> {
  await sql`
    update outbox set next_attempt_at = ${input.nextAttemptAt}, locked_until = null, last_error = ${input.error}
    where id = ${id} and status = 'pending'`;
}

/** Stop trying: the item stays in the table, with its last error, for someone to look at. */
export async function markOutboxDead(sql: Queryable, id: number, input: { error: string }): Promise<void> {
  await sql`
    update outbox set status = 'dead', locked_until = null, last_error = ${input.error}
    where id = ${id} and status = 'pending'`;
}

/** Channels that have pending items but are not in `handled` (no deliverer configured here). */
export async function unhandledOutboxChannels(
  sql: Queryable,
  handled: readonly string[],
): Promise<{ channel: string; pending: number }[]> {
  return sql<{ channel: string; pending: number }[]>`
    select channel, count(*)::int as pending from outbox
    where status = 'pending' and channel <> all(${handled as string[]})
    group by channel order by channel`;
}

export interface OutboxRow extends OutboxItem {
  status: OutboxStatus;
  nextAttemptAt: Date;
  lockedUntil: Date | null;
  lastError: string | null;
  result: Record<string, unknown> | null;
  deliveredAt: Date | null;
}

/** One item with its delivery state (for the CLI, the API and tests). */
export async function getOutboxItem(sql: Queryable, id: number): Promise<OutboxRow | undefined> {
  const [row] = await sql<OutboxRow[]>`
    select ${itemColumns(sql)}, status, next_attempt_at as "nextAttemptAt", locked_until as "lockedUntil",
      last_error as "lastError", result, delivered_at as "deliveredAt"
    from outbox where id = ${id}`;
  return row;
}

// ---------------------------------------------------------------- where chat messages live

export interface MessageRef {
  channel: string;
  messageId: string;
}

/** The message a subject already has on `platform`, so later events update it and reply in its thread. */
export async function getMessageRef(
  sql: Queryable,
  subject: { type: string; id: string },
  platform: string,
): Promise<MessageRef | undefined> {
  const [row] = await sql<MessageRef[]>`
    select channel, message_id as "messageId" from message_refs
    where subject_type = ${subject.type} and subject_id = ${subject.id} and platform = ${platform}`;
  return row;
}

/** Remember a subject's first message; the first one written wins (a re-sent post keeps the original). */
export async function saveMessageRef(
  sql: Queryable,
  input: {
    subject: { type: string; id: string };
    platform: string;
    channel: string;
    messageId: string;
    at: Date;
  },
): Promise<void> {
  await sql`
    insert into message_refs (subject_type, subject_id, platform, channel, message_id, created_at)
    values (${input.subject.type}, ${input.subject.id}, ${input.platform}, ${input.channel}, ${input.messageId},
            ${input.at})
    on conflict (subject_type, subject_id, platform) do nothing`;
}

/** A project's slug and chat channels, which decide where its notifications go. */
export async function getProjectChannels(
  sql: Queryable,
  projectId: number,
): Promise<{ slug: string; channels: Record<string, string> } | undefined> {
  const [row] = await sql<{ slug: string; channels: Record<string, string> }[]>`
    select slug, channels from projects where id = ${projectId}`;
  return row;
}
