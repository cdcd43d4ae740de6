import type { Queryable } from './db.js';

/**
 * Sealed values (vault envelopes, lib/crypto.ts) kept in the database: the `secrets` table and
 * the accounts' credentials. Only the envelopes pass through here, never a plaintext.
 */
export interface SealedValue {
  table: 'secrets' | 'accounts';
  id: number;
  name: string;
  sealed: string;
}

/** Every sealed value, locked for update so a rewrap and a rotation cannot interleave. */
export async function lockSealedValues(sql: Queryable): Promise<SealedValue[]> {
  const secrets = await sql<SealedValue[]>`
    select 'secrets' as "table", id, name, sealed from secrets order by id for update`;
  const accounts = await sql<SealedValue[]>`
    select 'accounts' as "table", id, name, sealed_credentials as sealed from accounts
    where sealed_credentials is not null order by id for update`;
  return [...secrets, ...accounts];
}

export async function updateSealedValue(sql: Queryable, value: SealedValue, sealed: string): Promise<void> {
  if (value.table === 'secrets') {
    await sql`update secrets set sealed = ${sealed} where id = ${value.id}`;
  } else {
    await sql`update accounts set sealed_credentials = ${sealed} where id = ${value.id}`;
  }
}
