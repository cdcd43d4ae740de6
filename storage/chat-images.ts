import type { Queryable } from './db.js';

/**
 * Images linked from chat messages (bot/teams/images.ts serves them). A row is found only with its
 * id *and* the SHA-256 of the token in its link, and only until it expires.
 */
export interface ChatImage {
  id: number;
  png: Buffer;
  title: string;
  alt: string;
  createdAt: Date;
  expiresAt: Date;
}

/**
 * Store an image under the hash of its link token; returns its id. With an idempotency key (the
 * outbox item's), a second store for the same key replaces the first row's picture and token, so
 * a retried send keeps one row and only the newest link works.
 */
export async function insertChatImage(
  sql: Queryable,
  input: {
    tokenHash: string;
    png: Buffer;
    title: string;
    alt: string;
    createdAt: Date;
    expiresAt: Date;
    idempotencyKey?: string;
  },
): Promise<number> {
  const [row] = await sql<{ id: number }[]>`
    insert into chat_images (token_hash, png, title, alt, created_at, expires_at, idempotency_key)
    values (${input.tokenHash}, ${input.png}, ${input.title}, ${input.alt}, ${input.createdAt}, ${input.expiresAt},
            ${input.idempotencyKey ?? null})
    on conflict (idempotency_key) where idempotency_key is not null do update
      set token_hash = excluded.token_hash, png = excluded.png, title = excluded.title, alt = excluded.alt,
          created_at = excluded.created_at, expires_at = excluded.expires_at
    returning id`;
  return row!.id;
}

/** The image with this id and token hash, unless it has expired at `now`. */
export async function findChatImage(
  sql: Queryable,
  input: { id: number; tokenHash: string; now: Date },
): Promise<ChatImage | undefined> {
  const [row] = await sql<ChatImage[]>`
    select id, png, title, alt, created_at as "createdAt", expires_at as "expiresAt"
    from chat_images
    where id = ${input.id} and token_hash = ${input.tokenHash} and expires_at > ${input.now}`;
  return row;
}

/** Delete images past their expiry; returns how many went. */
export async function purgeExpiredChatImages(sql: Queryable, now: Date): Promise<number> {
  const result = await sql`delete from chat_images where expires_at <= ${now}`;
  return result.count;
}
