import type { Queryable } from './db.js';

/**
 * Rotation attempts of service keys and the sealed private keys they swap (the `secrets` rows a
 * service key points at). Companion of storage/keys.ts.
 */
export type RotationStatus = 'adding' | 'switched' | 'done' | 'failed' | 'abandoned';

export interface KeyRotation {
  id: number;
  keyId: number;
  newKeyId: number | null;
  newFingerprint: string | null;
  tag: string;
  status: RotationStatus;
  trigger: string;
  startedAt: Date;
  heartbeatAt: Date;
  finishedAt: Date | null;
  error: string | null;
}

const rotationSelect = (sql: Queryable) => sql`
  select id, key_id as "keyId", new_key_id as "newKeyId", new_fingerprint as "newFingerprint", tag, status,
         trigger, started_at as "startedAt", heartbeat_at as "heartbeatAt", finished_at as "finishedAt", error
  from key_rotations`;

/**
 * Claim the key for one rotation. Returns undefined when another run holds it (the partial
 * unique index on running rotations refuses a second claim, whichever replica asks).
 */
export async function claimRotation(
  sql: Queryable,
  input: { keyId: number; tag: string; newFingerprint: string; trigger: string },
  at: Date,
): Promise<number | undefined> {
  const [row] = await sql<{ id: number }[]>`
    insert into key_rotations (key_id, tag, new_fingerprint, status, trigger, started_at, heartbeat_at)
    values (${input.keyId}, ${input.tag}, ${input.newFingerprint}, 'adding', ${input.trigger}, ${at}, ${at})
    on conflict (key_id) where status in ('adding', 'switched') do nothing
    returning id`;
  return row?.id;
}

export async function getRotation(sql: Queryable, id: number): Promise<KeyRotation | undefined> {
  const [row] = await sql<KeyRotation[]>`${rotationSelect(sql)} where id = ${id}`;
  return row;
}

/** The running (adding or switched) rotation of a key, if any. */
export async function getRunningRotation(sql: Queryable, keyId: number): Promise<KeyRotation | undefined> {
  const [row] = await sql<KeyRotation[]>`
    ${rotationSelect(sql)} where key_id = ${keyId} and status in ('adding', 'switched')`;
  return row;
}

/** Rotations whose run stopped beating before `staleBefore`: a crashed process left them. */
export async function listStaleRotations(sql: Queryable, staleBefore: Date): Promise<KeyRotation[]> {
  return sql<KeyRotation[]>`
    ${rotationSelect(sql)}
    where status in ('adding', 'switched') and heartbeat_at < ${staleBefore}
    order by id`;
}

export async function listRotations(sql: Queryable, keyIds: readonly number[]): Promise<KeyRotation[]> {
  if (keyIds.length === 0) return [];
  return sql<KeyRotation[]>`${rotationSelect(sql)} where key_id = any(${keyIds as number[]}) order by id`;
}

export async function beatRotation(sql: Queryable, id: number, at: Date): Promise<void> {
  await sql`update key_rotations set heartbeat_at = ${at} where id = ${id}`;
}

export async function markRotationSwitched(
  sql: Queryable,
  id: number,
  newKeyId: number,
  at: Date,
): Promise<void> {
  await sql`
    update key_rotations set status = 'switched', new_key_id = ${newKeyId}, heartbeat_at = ${at}
    where id = ${id}`;
}

export async function finishRotation(
  sql: Queryable,
  id: number,
  status: 'done' | 'failed' | 'abandoned',
  at: Date,
  error: string | null = null,
): Promise<void> {
  await sql`
    update key_rotations set status = ${status}, finished_at = ${at}, heartbeat_at = ${at}, error = ${error}
    where id = ${id}`;
}

/** The last failed rotation of each key, to hold off retrying a key that just failed. */
export async function lastFailures(sql: Queryable, keyIds: readonly number[]): Promise<Map<number, Date>> {
  if (keyIds.length === 0) return new Map();
  const rows = await sql<{ keyId: number; at: Date }[]>`
    select key_id as "keyId", max(finished_at) as at from key_rotations
    where status = 'failed' and key_id = any(${keyIds as number[]})
    group by key_id`;
  return new Map(rows.map((r) => [r.keyId, r.at]));
}

// ---------------------------------------------------------------- sealed private keys

export interface KeySecret {
  id: number;
  name: string;
  sealed: string;
}

export async function insertKeySecret(
  sql: Queryable,
  input: { name: string; purpose: string; ownerId: number; sealed: string },
  at: Date,
): Promise<number> {
  const [row] = await sql<{ id: number }[]>`
    insert into secrets (name, purpose, owner_id, sealed, created_at)
    values (${input.name}, ${input.purpose}, ${input.ownerId}, ${input.sealed}, ${at})
    returning id`;
  return row!.id;
}

export async function getKeySecret(sql: Queryable, id: number): Promise<KeySecret | undefined> {
  const [row] = await sql<KeySecret[]>`select id, name, sealed from secrets where id = ${id}`;
  return row;
}

export async function getKeySecretByName(sql: Queryable, name: string): Promise<KeySecret | undefined> {
  const [row] = await sql<KeySecret[]>`select id, name, sealed from secrets where name = ${name}`;
  return row;
}

/** The switch: the secret now holds the new generation's private key. */
export async function replaceKeySecret(sql: Queryable, id: number, sealed: string, at: Date): Promise<void> {
  await sql`update secrets set sealed = ${sealed}, rotated_at = ${at} where id = ${id}`;
}

export async function setSecretOwner(sql: Queryable, id: number, ownerId: number): Promise<void> {
  await sql`update secrets set owner_id = ${ownerId} where id = ${id}`;
}

/** Every `ssh-key:*` secret (the scanning core's naming) and whether a live key row points at it. */
export async function listServiceKeySecrets(
  sql: Queryable,
): Promise<{ id: number; name: string; ownerId: number | null; liveKeyId: number | null }[]> {
  return sql<{ id: number; name: string; ownerId: number | null; liveKeyId: number | null }[]>`
    select s.id, s.name, s.owner_id as "ownerId",
           (select k.id from keys k where k.secret_id = s.id and k.retired_at is null) as "liveKeyId"
    from secrets s
    where starts_with(s.name, 'ssh-key:')
    order by s.id`;
}

/** The first global admin: owner of last resort for a key whose secret names no owner. */
export async function firstGlobalAdmin(sql: Queryable): Promise<number | undefined> {
  const [row] = await sql<{ userId: number }[]>`
    select b.user_id as "userId" from role_bindings b join users u on u.id = b.user_id
    where b.role = 'admin' and b.project_id is null and not u.disabled
    order by b.id limit 1`;
  return row?.userId;
}
