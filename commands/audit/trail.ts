import type { Notification, Platform, SubjectRef } from '../../bot/chat/model.js';
import { ticketWritesForEvent } from '../../integrations/tickets/outbox.js';
import { canonicalJson } from '../../lib/canonical-json.js';
import type { Clock } from '../../lib/clock.js';
import { sha256Hex } from '../../lib/crypto.js';
import { inTransaction, type Tx } from '../../storage/db.js';
import { anyTicketsSql } from '../../storage/tickets.js';
import { webhookOutboxFor } from '../webhooks/outbox.js';

/**
 * The trail: every state change in Warden is written, in the caller's transaction, as one
 * append-only hash-chained audit event plus the outbox rows for what must be told elsewhere.
 * If the transaction rolls back, neither exists; if it commits, both do.
 */
export interface TrailEvent {
  /** `user:<handle>`, `token:<id>`, `job:<name>` or `system`. */
  actor: string;
  /** Dotted verb, e.g. `approval.requested`, `server.created`. */
  action: string;
  subject?: SubjectRef;
  projectId?: number | null;
  /** Facts about the change. Never secrets. */
  data?: Record<string, unknown>;
  requestId?: string;
}

export interface AuditEvent {
  seq: number;
  at: Date;
  actor: string;
  action: string;
  subjectType: string | null;
  subjectId: string | null;
  projectId: number | null;
  data: Record<string, unknown>;
  requestId: string | null;
  prevHash: string;
  hash: string;
}

export interface TrailDeps {
  clock: Clock;
  chatPlatforms: readonly Platform[];
}

/** Extra outbox rows for non-chat channels (tickets, webhooks, mail); later capabilities add theirs. */
export interface OutboxWrite {
  channel: string;
  kind: string;
  payload: Record<string, unknown>;
  orderingKey?: string | null;
}

export const GENESIS_HASH = '0'.repeat(64);

/** The exact bytes an event's hash covers: the previous hash and the event's canonical JSON. */
export function eventHash(prevHash: string, e: Omit<AuditEvent, 'hash' | 'prevHash'>): string {
  const body = canonicalJson({
    seq: e.seq,
    at: e.at.toISOString(),
    actor: e.actor,
    action: e.action,
    subjectType: e.subjectType,
    subjectId: e.subjectId,
    projectId: e.projectId,
    data: e.data,
    requestId: e.requestId,
  });
  return sha256Hex(`${prevHash}\n${body}`);
}

/** The ordering key that keeps a subject's messages in order on one platform (post before replies). */
export function subjectOrderingKey(platform: string, subject: SubjectRef): string {
  return `${platform}:${subject.type}:${subject.id}`;
}

interface Head {
  seq: number;
  hash: string;
}

interface Reach {
  webhooks: boolean;
  tickets: boolean;
}

/** The head each open transaction has locked, as its own appends left it. */
const lockedHeads = new WeakMap<Tx, Head>();

/**
 * Append one event and its notifications. Must run inside a transaction; the audit head row is
 * locked until it commits, which serialises writers so the chain never forks.
 *
 * The first event of a transaction locks the head and reads it (one round trip). A later event
 * in the same transaction already holds the lock and knows the head, so its statements go out
 * together, pipelined: is anything listening (webhooks, tickets), the event and new head, and the
 * outbox rows already known. An approval's transaction, which records three events, spends four
 * round trips on the trail instead of seven, and holds the head's lock that much less.
 */
export async function recordEvent(
  tx: Tx,
  deps: TrailDeps,
  event: TrailEvent,
  notifications: readonly Notification[] = [],
  extraOutbox: readonly OutboxWrite[] = [],
): Promise<AuditEvent> {
  const held = inTransaction(tx) ? lockedHeads.get(tx) : undefined;
  let head: Head & Partial<Reach>;
  if (held) {
    head = held;
  } else {
    // `webhooks` and `tickets` ride on the head query, so an install without webhook subscriptions
    // or tickets pays no extra round trip.
    const [row] = await tx<(Head & Reach)[]>`
      select seq, hash, exists (select 1 from webhook_subscriptions where active) as webhooks,
        ${anyTicketsSql(tx)} as tickets
      from audit_head where singleton for update`;
    if (!row) throw new Error('audit_head row is missing; the foundation migration did not run');
    head = row;
  }
  const draft = {
    seq: head.seq + 1,
    at: deps.clock.now(),
    actor: event.actor,
    action: event.action,
    subjectType: event.subject?.type ?? null,
    subjectId: event.subject?.id ?? null,
    projectId: event.projectId ?? null,
    data: JSON.parse(canonicalJson(event.data ?? {})) as Record<string, unknown>,
    requestId: event.requestId ?? null,
  };
  const hash = eventHash(head.hash, draft);
  const known: OutboxRow[] = [];
  notifications.forEach((n, i) => {
    for (const platform of deps.chatPlatforms) {
      known.push({
        channel: platform,
        kind: n.kind,
        payload: n,
        idempotency_key: `audit:${draft.seq}:${i}:${platform}`,
        ordering_key: 'subject' in n ? subjectOrderingKey(platform, n.subject) : null,
      });
    }
  });
  const extra = (writes: readonly OutboxWrite[], offset: number): OutboxRow[] =>
    writes.map((w, i) => ({
      channel: w.channel,
      kind: w.kind,
      payload: w.payload,
      idempotency_key: `audit:${draft.seq}:x${offset + i}:${w.channel}`,
      ordering_key: w.orderingKey ?? null,
    }));
  known.push(...extra(extraOutbox, 0));

  // From here the statements go out in this order, without waiting for each other.
  // Read afresh after the first event: this transaction may have opened a ticket since.
  const reach: Promise<Reach> =
    head.webhooks === undefined || head.tickets === undefined
      ? tx<Reach[]>`
          select exists (select 1 from webhook_subscriptions where active) as webhooks,
            ${anyTicketsSql(tx)} as tickets`.then(([row]) => row!)
      : Promise.resolve({ webhooks: head.webhooks, tickets: head.tickets });
  // The event and the new head in one statement, before the outbox rows that name it.
  const appended = tx`
    with appended as (
      insert into audit_events (seq, at, actor, action, subject_type, subject_id, project_id, data, request_id,
                                prev_hash, hash)
      values (${draft.seq}, ${draft.at}, ${draft.actor}, ${draft.action}, ${draft.subjectType}, ${draft.subjectId},
              ${draft.projectId}, ${tx.json(draft.data as never)}, ${draft.requestId}, ${head.hash}, ${hash})
      returning seq)
    update audit_head set seq = (select seq from appended), hash = ${hash} where singleton`.execute();
  // A failure of any of them rejects here, and the caller's transaction rolls back.
  const [{ webhooks: anyWebhooks, tickets: anyTickets }] = await Promise.all([
    reach,
    appended,
    insertOutbox(tx, known, draft),
  ]);
  lockedHeads.set(tx, { seq: draft.seq, hash });

  // Webhook subscriptions that want this event (commands/webhooks/outbox.ts): one indexed query.
  const webhooks = anyWebhooks ? await webhookOutboxFor(tx, draft) : [];
  // A subject with a ticket hears about every event on it (integrations/tickets/outbox.ts).
  const tickets = anyTickets ? await ticketWritesForEvent(tx, draft, extraOutbox) : [];
  await insertOutbox(tx, extra([...webhooks, ...tickets], extraOutbox.length), draft);
  return { ...draft, prevHash: head.hash, hash };
}

interface OutboxRow {
  channel: string;
  kind: string;
  payload: unknown;
  idempotency_key: string;
  ordering_key: string | null;
}

/** Every row in one statement, in the order given (ids keep a subject's messages in order). */
async function insertOutbox(
  tx: Tx,
  rows: readonly OutboxRow[],
  event: { seq: number; at: Date },
): Promise<void> {
  if (rows.length === 0) return;
  await tx`
    insert into outbox (channel, kind, payload, idempotency_key, ordering_key, audit_seq, next_attempt_at, created_at)
    select r.channel, r.kind, r.payload, r.idempotency_key, r.ordering_key, ${event.seq}, ${event.at}, ${event.at}
    from rows from (jsonb_to_recordset(${tx.json(rows as never)})
        as (channel text, kind text, payload jsonb, idempotency_key text, ordering_key text))
      with ordinality as r(channel, kind, payload, idempotency_key, ordering_key, n)
    order by r.n`;
}
