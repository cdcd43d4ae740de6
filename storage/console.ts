import type { Reply } from '../bot/chat/model.js';
import type { Queryable } from './db.js';
import { storableText, toStorableJson } from './interactions.js';

/**
 * The local console's channel history. `updated_at` is the database's own clock_timestamp(): it is
 * the cursor the page polls with, so it must move even when the app runs on a fake clock.
 * `created_at` is the app clock, shown as the message time.
 */
export interface ConsoleMessage {
  id: number;
  channel: string;
  threadId: number | null;
  author: string;
  /** null: everyone in the channel; otherwise only this user id (a private reply). */
  visibleTo: number | null;
  body: Reply;
  createdAt: Date;
  updatedAt: Date;
}

const columns = (sql: Queryable) => sql`
  id, channel, thread_id as "threadId", author, visible_to as "visibleTo", body,
  created_at as "createdAt", updated_at as "updatedAt"`;

/**
 * Insert a message. With an idempotency key, a second insert with the same key inserts nothing
 * and returns the first message's id (`created: false`).
 */
export async function insertConsoleMessage(
  sql: Queryable,
  input: {
    channel: string;
    author: string;
    body: Reply;
    createdAt: Date;
    threadId?: number | null;
    visibleTo?: number | null;
    idempotencyKey?: string | null;
  },
): Promise<{ id: number; created: boolean }> {
  const key = input.idempotencyKey == null ? null : storableText(input.idempotencyKey);
  const [row] = await sql<{ id: number }[]>`
    insert into console_messages (channel, thread_id, author, visible_to, body, idempotency_key, created_at, updated_at)
    values (${storableText(input.channel)}, ${input.threadId ?? null}, ${storableText(input.author)},
            ${input.visibleTo ?? null}, ${sql.json(toStorableJson(input.body) as never)}, ${key},
            ${input.createdAt}, clock_timestamp())
    on conflict (idempotency_key) do nothing
    returning id`;
  if (row) return { id: row.id, created: true };
  const [existing] = await sql<
    { id: number }[]
  >`select id from console_messages where idempotency_key = ${key}`;
  if (!existing) throw new Error('console message vanished between insert and select');
  return { id: existing.id, created: false };
}

export async function getConsoleMessage(sql: Queryable, id: number): Promise<ConsoleMessage | undefined> {
  const [row] = await sql<ConsoleMessage[]>`select ${columns(sql)} from console_messages where id = ${id}`;
  return row;
}

/** Replace a message's body in place; returns false when no message has that id in that channel. */
export async function updateConsoleMessage(
  sql: Queryable,
  input: { id: number; channel: string; body: Reply },
): Promise<boolean> {
  const rows = await sql`
    update console_messages set body = ${sql.json(toStorableJson(input.body) as never)}, updated_at = clock_timestamp()
    where id = ${input.id} and channel = ${storableText(input.channel)}
    returning id`;
  return rows.length > 0;
}

/** Show a private message to everyone (a command whose reply turned out public). */
export async function publishConsoleMessage(sql: Queryable, id: number): Promise<void> {
  await sql`update console_messages set visible_to = null, updated_at = clock_timestamp() where id = ${id}`;
}

/**
 * Messages of a channel that `viewerId` may see. Without `changedSince`, the latest `limit`
 * messages; with it, the messages created or changed after that moment, oldest change first
 * (so in-place updates reach the page too, and a cursor taken from the last row never skips one).
 */
export async function listConsoleMessages(
  sql: Queryable,
  input: { channel: string; viewerId: number | null; changedSince?: Date; limit?: number },
): Promise<ConsoleMessage[]> {
  const limit = input.limit ?? 200;
  const visible = sql`(visible_to is null or visible_to = ${input.viewerId ?? -1})`;
  if (input.changedSince) {
    return sql<ConsoleMessage[]>`
      select ${columns(sql)} from console_messages
      where channel = ${input.channel} and ${visible} and updated_at > ${input.changedSince}
      order by updated_at, id limit ${limit}`;
  }
  return sql<ConsoleMessage[]>`
    select * from (
      select ${columns(sql)} from console_messages
      where channel = ${input.channel} and ${visible}
      order by id desc limit ${limit}) latest
    order by id`;
}

/** Users who may be picked in the console: those with a `console` identity. */
export async function listConsoleUsers(
  sql: Queryable,
): Promise<{ id: number; handle: string; displayName: string }[]> {
  return sql<{ id: number; handle: string; displayName: string }[]>`
    select distinct u.id, u.handle, u.display_name as "displayName"
    from identities i join users u on u.id = i.user_id
    where i.platform = 'console' and not u.disabled
    order by u.handle`;
}

/**
 * Channels shown in the console: `general`, plus where each project's messages go on the console
 * (its `channels.console`, else its slug; the same rule as the console platform's channelFor).
 */
export async function listConsoleChannels(sql: Queryable): Promise<string[]> {
  const rows = await sql<{ channel: string }[]>`
    select distinct coalesce(channels->>'console', slug) as channel from projects order by 1`;
  const names = rows.map((r) => r.channel).filter((c) => c !== 'general');
  return ['general', ...names];
}
