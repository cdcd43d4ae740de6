import type { Queryable, Sql } from './db.js';

/**
 * What the Slack adapter keeps in Postgres so it holds across replicas: signatures already
 * accepted (replays), Events API ids already taken (retries), what users.info said about a
 * user (with an expiry), and which outbox items were already posted or uploaded.
 */

/**
 * Remember a request signature; false when it was already there (the request is a replay).
 *
 * Committed without waiting for the disk (synchronous_commit off for this one statement's own
 * transaction): a request that goes on to change anything is then recorded with a synchronous
 * commit, and flushing the log up to that record flushes this row too, before the
 * acknowledgement. A crash in between can lose only the row of a request that changed nothing.
 * One statement and no explicit transaction: this is on the path to every acknowledgement.
 */
export async function rememberSignature(
  // A pool, not a transaction: the relaxed commit must apply to this statement alone.
  sql: Sql,
  input: { signature: string; expiresAt: Date },
): Promise<boolean> {
  const result = await sql`
    with relaxed as (select set_config('synchronous_commit', 'off', true))
    insert into slack_request_signatures (signature, expires_at)
    select ${input.signature}, ${input.expiresAt}::timestamptz from relaxed
    on conflict (signature) do nothing`;
  return result.count === 1;
}

/** Remember an Events API event id; false when it was already taken (a retry or a duplicate). */
export async function rememberEventId(
  sql: Queryable,
  input: { eventId: string; receivedAt: Date; expiresAt: Date },
): Promise<boolean> {
  const result = await sql`
    insert into slack_event_ids (event_id, received_at, expires_at)
    values (${input.eventId}, ${input.receivedAt}, ${input.expiresAt})
    on conflict (event_id) do nothing`;
  return result.count === 1;
}

/** Drop replay-cache and event-id rows past their expiry; returns how many went. */
export async function purgeExpiredSlackRequests(sql: Queryable, now: Date): Promise<number> {
  const signatures = await sql`delete from slack_request_signatures where expires_at < ${now}`;
  const events = await sql`delete from slack_event_ids where expires_at < ${now}`;
  return signatures.count + events.count;
}

export interface CachedSlackUser {
  userId: string;
  teamId: string | null;
  name: string | null;
  /** Only when the app has users:read.email and Slack returned one. */
  email: string | null;
  deleted: boolean;
  isBot: boolean;
  fetchedAt: Date;
  expiresAt: Date;
}

/** The cached users.info answer for a user, if it has not expired at `now`. */
export async function getCachedSlackUser(
  sql: Queryable,
  userId: string,
  now: Date,
): Promise<CachedSlackUser | undefined> {
  const [row] = await sql<CachedSlackUser[]>`
    select user_id as "userId", team_id as "teamId", name, email, deleted, is_bot as "isBot",
           fetched_at as "fetchedAt", expires_at as "expiresAt"
    from slack_users where user_id = ${userId} and expires_at > ${now}`;
  return row;
}

export async function putCachedSlackUser(sql: Queryable, user: CachedSlackUser): Promise<void> {
  await sql`
    insert into slack_users (user_id, team_id, name, email, deleted, is_bot, fetched_at, expires_at)
    values (${user.userId}, ${user.teamId}, ${user.name}, ${user.email}, ${user.deleted}, ${user.isBot},
            ${user.fetchedAt}, ${user.expiresAt})
    on conflict (user_id) do update set team_id = excluded.team_id, name = excluded.name,
      email = excluded.email, deleted = excluded.deleted, is_bot = excluded.is_bot,
      fetched_at = excluded.fetched_at, expires_at = excluded.expires_at`;
}

/** The message an outbox item already posted, when it was sent before (a redelivery). */
export async function getSlackPost(
  sql: Queryable,
  idempotencyKey: string,
): Promise<{ channel: string; ts: string } | undefined> {
  const [row] = await sql<{ channel: string; ts: string }[]>`
    select channel, ts from slack_posts where idempotency_key = ${idempotencyKey}`;
  return row;
}

export async function saveSlackPost(
  sql: Queryable,
  input: { idempotencyKey: string; channel: string; ts: string; at: Date },
): Promise<void> {
  await sql`
    insert into slack_posts (idempotency_key, channel, ts, created_at)
    values (${input.idempotencyKey}, ${input.channel}, ${input.ts}, ${input.at})
    on conflict (idempotency_key) do nothing`;
}

/** The file an outbox item already uploaded (a chart), when it was sent before (a redelivery). */
export async function getSlackUpload(
  sql: Queryable,
  idempotencyKey: string,
): Promise<{ channel: string; fileId: string } | undefined> {
  const [row] = await sql<{ channel: string; fileId: string }[]>`
    select channel, file_id as "fileId" from slack_uploads where idempotency_key = ${idempotencyKey}`;
  return row;
}

export async function saveSlackUpload(
  sql: Queryable,
  input: { idempotencyKey: string; channel: string; fileId: string; at: Date },
): Promise<void> {
  await sql`
    insert into slack_uploads (idempotency_key, channel, file_id, created_at)
    values (${input.idempotencyKey}, ${input.channel}, ${input.fileId}, ${input.at})
    on conflict (idempotency_key) do nothing`;
}

/** The Slack user id linked to a Warden user (for direct messages), if any. */
export async function findSlackIdentity(sql: Queryable, userId: number): Promise<string | undefined> {
  const [row] = await sql<{ externalId: string }[]>`
    select external_id as "externalId" from identities
    where user_id = ${userId} and platform = 'slack'
    order by verified_at desc nulls last, id desc limit 1`;
  return row?.externalId;
}
