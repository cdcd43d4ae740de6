import type { Queryable } from './db.js';

/**
 * Outgoing webhook subscriptions and their delivery log (migration 1700000000070). The sealed
 * secret is only read by the deliverer; listings never return it.
 */
export interface WebhookSubscription {
  id: number;
  projectId: number | null;
  projectSlug: string | null;
  url: string;
  events: string[];
  description: string;
  active: boolean;
  createdBy: number | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface WebhookSubscriptionWrite {
  projectId: number | null;
  url: string;
  events: string[];
  /** The events as LIKE patterns (`approval.*` → `approval.%`). */
  patterns: string[];
  description: string;
  active: boolean;
}

const subscriptionSelect = (sql: Queryable) => sql`
  select w.id, w.project_id as "projectId", p.slug as "projectSlug", w.url, w.events, w.description, w.active,
         w.created_by as "createdBy", w.created_at as "createdAt", w.updated_at as "updatedAt"
  from webhook_subscriptions w left join projects p on p.id = w.project_id`;

/** Inserts with a placeholder secret; the caller seals the real one with the id as its context. */
export async function insertSubscription(
  sql: Queryable,
  input: WebhookSubscriptionWrite & { createdBy: number },
  at: Date,
): Promise<number> {
  const [row] = await sql<{ id: number }[]>`
    insert into webhook_subscriptions (project_id, url, events, patterns, description, secret_sealed, active,
                                       created_by, created_at, updated_at)
    values (${input.projectId}, ${input.url}, ${input.events}, ${input.patterns}, ${input.description}, '',
            ${input.active}, ${input.createdBy}, ${at}, ${at})
    returning id`;
  return row!.id;
}

export async function setSubscriptionSecret(
  sql: Queryable,
  id: number,
  sealed: string,
  at: Date,
): Promise<void> {
  await sql`update webhook_subscriptions set secret_sealed = ${sealed}, updated_at = ${at} where id = ${id}`;
}

export async function updateSubscription(
  sql: Queryable,
  id: number,
  input: WebhookSubscriptionWrite,
  at: Date,
): Promise<void> {
  await sql`
    update webhook_subscriptions
    set project_id = ${input.projectId}, url = ${input.url}, events = ${input.events}, patterns = ${input.patterns},
        description = ${input.description}, active = ${input.active}, updated_at = ${at}
    where id = ${id}`;
}

export async function deleteSubscription(sql: Queryable, id: number): Promise<void> {
  await sql`delete from webhook_subscriptions where id = ${id}`;
}

export async function getSubscription(sql: Queryable, id: number): Promise<WebhookSubscription | undefined> {
  const [row] = await sql<WebhookSubscription[]>`${subscriptionSelect(sql)} where w.id = ${id}`;
  return row;
}

/** What the deliverer needs: where to send and the sealed secret. */
export async function getSubscriptionForDelivery(
  sql: Queryable,
  id: number,
): Promise<{ id: number; url: string; active: boolean; secretSealed: string } | undefined> {
  const [row] = await sql<{ id: number; url: string; active: boolean; secretSealed: string }[]>`
    select id, url, active, secret_sealed as "secretSealed" from webhook_subscriptions where id = ${id}`;
  return row;
}

/** Subscriptions in these projects (null: all, including global ones), by id. */
export async function listSubscriptions(
  sql: Queryable,
  filter: { projectIds: readonly number[] | null },
): Promise<WebhookSubscription[]> {
  return sql<WebhookSubscription[]>`
    ${subscriptionSelect(sql)}
    ${filter.projectIds ? sql`where w.project_id = any(${filter.projectIds as number[]})` : sql``}
    order by w.id`;
}

/**
 * The active subscriptions an event goes to: global ones, and those of the event's project, whose
 * patterns match its action. One indexed query, run inside the trail's transaction.
 */
export async function matchingSubscriptionIds(
  sql: Queryable,
  event: { action: string; projectId: number | null },
): Promise<number[]> {
  const rows = await sql<{ id: number }[]>`
    select id from webhook_subscriptions
    where active
      and (project_id is null ${event.projectId === null ? sql`` : sql`or project_id = ${event.projectId}`})
      and exists (select 1 from unnest(patterns) p where ${event.action} like p)
    order by id`;
  return rows.map((r) => r.id);
}

export type DeliveryOutcome = 'delivered' | 'failed';

export interface WebhookDelivery {
  id: number;
  subscriptionId: number;
  outboxId: number;
  deliveryKey: string;
  eventSeq: number | null;
  eventAction: string;
  attempt: number;
  outcome: DeliveryOutcome;
  httpStatus: number | null;
  error: string | null;
  durationMs: number;
  at: Date;
}

export async function insertDelivery(sql: Queryable, input: Omit<WebhookDelivery, 'id'>): Promise<void> {
  await sql`
    insert into webhook_deliveries (subscription_id, outbox_id, delivery_key, event_seq, event_action, attempt, outcome,
                                    http_status, error, duration_ms, at)
    values (${input.subscriptionId}, ${input.outboxId}, ${input.deliveryKey}, ${input.eventSeq}, ${input.eventAction},
            ${input.attempt}, ${input.outcome}, ${input.httpStatus}, ${input.error}, ${input.durationMs}, ${input.at})`;
}

/** A subscription's delivery attempts, newest first. */
export async function listDeliveries(
  sql: Queryable,
  subscriptionId: number,
  page: { beforeId?: number; limit: number },
): Promise<WebhookDelivery[]> {
  return sql<WebhookDelivery[]>`
    select id, subscription_id as "subscriptionId", outbox_id as "outboxId", delivery_key as "deliveryKey",
           event_seq as "eventSeq", event_action as "eventAction", attempt, outcome, http_status as "httpStatus",
           error, duration_ms as "durationMs", at
    from webhook_deliveries
    where subscription_id = ${subscriptionId}
    ${page.beforeId !== undefined ? sql`and id < ${page.beforeId}` : sql``}
    order by id desc limit ${page.limit}`;
}
