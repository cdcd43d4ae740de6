import type { Queryable } from './db.js';

/**
 * Every command, click and form submit is written here (and committed) before it runs, so a
 * retried delivery runs once and a crash right after the acknowledgement loses nothing.
 */
export type InteractionStatus = 'received' | 'done' | 'failed';

export interface InteractionRecord {
  id: number;
  platform: string;
  dedupeKey: string;
  userRef: string;
  kind: 'command' | 'action' | 'form';
  body: Record<string, unknown>;
  status: InteractionStatus;
  error: string | null;
  receivedAt: Date;
  doneAt: Date | null;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Postgres text and jsonb refuse NUL and lone surrogates. Hostile input is still recorded (so it
 * can be inspected) with those characters replaced by U+FFFD.
 */
export function storableText(text: string): string {
  return text.replaceAll('\u0000', '\uFFFD').replace(LONE_SURROGATE, '\uFFFD');
}

/** A JSON-safe deep copy with every string made storable; functions and undefined are dropped. */
export function toStorableJson(value: unknown): Record<string, unknown> {
  const text = JSON.stringify(value ?? {}, (_key, v: unknown) =>
    typeof v === 'string' ? storableText(v) : v,
  );
  return JSON.parse(text ?? '{}') as Record<string, unknown>;
}

/** Who sent an interaction, as stored in `user_ref`: `<platform>:<external id>`. */
export function userRefOf(platform: string, externalId: string): string {
  return `${platform}:${externalId}`;
}

/** The platform and external id back from a `user_ref`; undefined when it has no platform. */
export function parseUserRef(ref: string): { platform: string; externalId: string } | undefined {
  const colon = ref.indexOf(':');
  return colon > 0 ? { platform: ref.slice(0, colon), externalId: ref.slice(colon + 1) } : undefined;
}

/** Insert the interaction; `duplicate` is true when the same (platform, dedupeKey) was already recorded. */
export async function recordInteraction(
  sql: Queryable,
  input: {
    platform: string;
    dedupeKey: string;
    userRef: string;
    kind: InteractionRecord['kind'];
    body: unknown;
    receivedAt: Date;
  },
): Promise<{ id: number; duplicate: boolean }> {
  const platform = storableText(input.platform);
  const dedupeKey = storableText(input.dedupeKey);
  const [inserted] = await sql<{ id: number }[]>`
    insert into interactions (platform, dedupe_key, user_ref, kind, body, received_at)
    values (${platform}, ${dedupeKey}, ${storableText(input.userRef)}, ${input.kind},
            ${sql.json(toStorableJson(input.body) as never)}, ${input.receivedAt})
    on conflict (platform, dedupe_key) do nothing
    returning id`;
  if (inserted) return { id: inserted.id, duplicate: false };
  const [existing] = await sql<{ id: number }[]>`
    select id from interactions where platform = ${platform} and dedupe_key = ${dedupeKey}`;
  if (!existing) throw new Error('interaction vanished between insert and select');
  return { id: existing.id, duplicate: true };
}

/** Mark an interaction finished; `error` is the AppError code (or `internal`) when it failed. */
export async function finishInteraction(
  sql: Queryable,
  id: number,
  outcome: { status: Exclude<InteractionStatus, 'received'>; error?: string | null; at: Date },
): Promise<void> {
  await sql`
    update interactions set status = ${outcome.status}, error = ${outcome.error ?? null}, done_at = ${outcome.at}
    where id = ${id}`;
}

export async function getInteraction(sql: Queryable, id: number): Promise<InteractionRecord | undefined> {
  const [row] = await sql<InteractionRecord[]>`
    select id, platform, dedupe_key as "dedupeKey", user_ref as "userRef", kind, body, status, error,
           received_at as "receivedAt", done_at as "doneAt"
    from interactions where id = ${id}`;
  return row;
}

/** Refresh the heartbeat of interactions this process is still running. */
export async function heartbeatInteractions(sql: Queryable, ids: readonly number[], at: Date): Promise<void> {
  if (ids.length === 0) return;
  await sql`
    update interactions set heartbeat_at = ${at}
    where id = any(${ids as number[]}) and status = 'received'`;
}

/**
 * Claim interactions left 'received' by a process that died: no heartbeat (or, without one, no
 * arrival) since `before`. They are marked failed with error 'interrupted' in the caller's
 * transaction; a replica sweeping at the same time skips the rows this one holds.
 */
export async function claimInterruptedInteractions(
  sql: Queryable,
  input: { before: Date; at: Date; limit?: number },
): Promise<InteractionRecord[]> {
  return sql<InteractionRecord[]>`
    update interactions set status = 'failed', error = 'interrupted', done_at = ${input.at}
    where id in (
      select id from interactions
      where status = 'received' and coalesce(heartbeat_at, received_at) < ${input.before}
      order by received_at, id limit ${input.limit ?? 100}
      for update skip locked)
    returning id, platform, dedupe_key as "dedupeKey", user_ref as "userRef", kind, body, status, error,
              received_at as "receivedAt", done_at as "doneAt"`;
}
