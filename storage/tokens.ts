import type { Queryable } from './db.js';

/** An API token as stored: never the token itself, only its SHA-256 and a display prefix. */
export interface TokenRow {
  id: number;
  userId: number;
  userHandle: string;
  name: string;
  prefix: string;
  scopes: string[];
  projectId: number | null;
  projectSlug: string | null;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  createdAt: Date;
}

const tokenSelect = (sql: Queryable) => sql`
  select t.id, t.user_id as "userId", u.handle as "userHandle", t.name, t.prefix, t.scopes,
         t.project_id as "projectId", p.slug as "projectSlug", t.expires_at as "expiresAt",
         t.last_used_at as "lastUsedAt", t.revoked_at as "revokedAt", t.created_at as "createdAt"
  from api_tokens t
  join users u on u.id = t.user_id
  left join projects p on p.id = t.project_id`;

export async function insertToken(
  sql: Queryable,
  input: {
    userId: number;
    name: string;
    tokenHash: string;
    prefix: string;
    scopes: readonly string[];
    projectId: number | null;
    expiresAt: Date | null;
    createdAt: Date;
  },
): Promise<number> {
  const [row] = await sql<{ id: number }[]>`
    insert into api_tokens (user_id, name, token_hash, prefix, scopes, project_id, expires_at, created_at)
    values (${input.userId}, ${input.name}, ${input.tokenHash}, ${input.prefix}, ${input.scopes as string[]},
            ${input.projectId}, ${input.expiresAt}, ${input.createdAt})
    returning id`;
  return row!.id;
}

export async function getTokenById(sql: Queryable, id: number): Promise<TokenRow | undefined> {
  const [row] = await sql<TokenRow[]>`${tokenSelect(sql)} where t.id = ${id}`;
  return row;
}

export async function getTokenByHash(sql: Queryable, tokenHash: string): Promise<TokenRow | undefined> {
  const [row] = await sql<TokenRow[]>`${tokenSelect(sql)} where t.token_hash = ${tokenHash}`;
  return row;
}

/** Tokens, newest first; `userId` null lists everyone's. */
export async function listTokens(sql: Queryable, filter: { userId: number | null }): Promise<TokenRow[]> {
  return sql<TokenRow[]>`
    ${tokenSelect(sql)}
    ${filter.userId === null ? sql`` : sql`where t.user_id = ${filter.userId}`}
    order by t.created_at desc, t.id desc`;
}

/**
 * Record a use, at most once per `staleBefore` window: a busy client costs a write a minute,
 * not one per request.
 */
export async function touchToken(sql: Queryable, id: number, at: Date, staleBefore: Date): Promise<void> {
  await sql`
    update api_tokens set last_used_at = ${at}
    where id = ${id} and (last_used_at is null or last_used_at < ${staleBefore})`;
}

/** Revoke; false when the token was already revoked. */
export async function revokeToken(sql: Queryable, id: number, at: Date): Promise<boolean> {
  const rows =
    await sql`update api_tokens set revoked_at = ${at} where id = ${id} and revoked_at is null returning id`;
  return rows.length > 0;
}
