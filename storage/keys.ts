import type { Queryable } from './db.js';

/**
 * The key registry (migration 1700000000051_keys.sql): keys with one owner, where each is
 * installed, handovers, and rotation attempts. Only public material and sealed envelopes pass
 * through here, never a private key in clear.
 */
export type KeyKind = 'service' | 'user' | 'ca';

export interface KeyRecord {
  id: number;
  kind: KeyKind;
  ownerId: number;
  ownerHandle: string;
  purpose: string;
  fingerprint: string;
  keyType: string;
  bits: number;
  publicKey: string;
  secretId: number | null;
  projectId: number | null;
  projectSlug: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  rotateEveryMs: number | null;
  nextRotationAt: Date | null;
  rotatedFrom: number | null;
  retiredAt: Date | null;
  retiredReason: string | null;
}

export interface KeyWrite {
  kind: KeyKind;
  ownerId: number;
  purpose: string;
  fingerprint: string;
  keyType: string;
  bits: number;
  publicKey: string;
  secretId: number | null;
  projectId: number | null;
  rotateEveryMs: number | null;
  nextRotationAt: Date | null;
  rotatedFrom: number | null;
}

/** What the access half (W5) reads: a user's live public keys. */
export interface UserPublicKey {
  id: number;
  fingerprint: string;
  /** The OpenSSH line: `ssh-ed25519 AAAA… comment`. */
  publicKey: string;
  /** `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, … */
  type: string;
  createdAt: Date;
}

const keySelect = (sql: Queryable) => sql`
  select k.id, k.kind, k.owner_id as "ownerId", u.handle as "ownerHandle", k.purpose, k.fingerprint,
         k.key_type as "keyType", k.bits, k.public_key as "publicKey", k.secret_id as "secretId",
         k.project_id as "projectId", p.slug as "projectSlug", k.created_at as "createdAt",
         k.last_used_at as "lastUsedAt", k.rotate_every_ms as "rotateEveryMs",
         k.next_rotation_at as "nextRotationAt", k.rotated_from as "rotatedFrom",
         k.retired_at as "retiredAt", k.retired_reason as "retiredReason"
  from keys k
  join users u on u.id = k.owner_id
  left join projects p on p.id = k.project_id`;

export async function insertKey(sql: Queryable, input: KeyWrite, at: Date): Promise<number> {
  const [row] = await sql<{ id: number }[]>`
    insert into keys (kind, owner_id, purpose, fingerprint, key_type, bits, public_key, secret_id, project_id,
                      created_at, rotate_every_ms, next_rotation_at, rotated_from)
    values (${input.kind}, ${input.ownerId}, ${input.purpose}, ${input.fingerprint}, ${input.keyType},
            ${input.bits}, ${input.publicKey}, ${input.secretId}, ${input.projectId}, ${at},
            ${input.rotateEveryMs}, ${input.nextRotationAt}, ${input.rotatedFrom})
    returning id`;
  return row!.id;
}

export async function getKey(sql: Queryable, id: number): Promise<KeyRecord | undefined> {
  const [row] = await sql<KeyRecord[]>`${keySelect(sql)} where k.id = ${id}`;
  return row;
}

export async function getKeyByFingerprint(
  sql: Queryable,
  fingerprint: string,
): Promise<KeyRecord | undefined> {
  const [row] = await sql<KeyRecord[]>`${keySelect(sql)} where k.fingerprint = ${fingerprint}`;
  return row;
}

/** Live keys whose fingerprint starts with `prefix` (people type a short prefix in chat). */
export async function findLiveKeysByFingerprintPrefix(sql: Queryable, prefix: string): Promise<KeyRecord[]> {
  return sql<KeyRecord[]>`
    ${keySelect(sql)}
    where k.retired_at is null and starts_with(k.fingerprint, ${prefix})
    order by k.id limit 5`;
}

/** The contract the access half consumes: a user's live public keys, oldest first. */
export async function listUserPublicKeys(sql: Queryable, userId: number): Promise<UserPublicKey[]> {
  return sql<UserPublicKey[]>`
    select id, fingerprint, public_key as "publicKey", key_type as "type", created_at as "createdAt"
    from keys
    where owner_id = ${userId} and kind = 'user' and retired_at is null
    order by id`;
}

export async function unretireKey(sql: Queryable, id: number): Promise<void> {
  await sql`update keys set retired_at = null, retired_reason = null where id = ${id}`;
}

export async function retireKey(sql: Queryable, id: number, at: Date, reason: string): Promise<void> {
  await sql`update keys set retired_at = ${at}, retired_reason = ${reason} where id = ${id} and retired_at is null`;
}

export async function setKeyOwner(sql: Queryable, id: number, ownerId: number): Promise<void> {
  await sql`update keys set owner_id = ${ownerId} where id = ${id}`;
}

export async function setNextRotation(sql: Queryable, id: number, at: Date | null): Promise<void> {
  await sql`update keys set next_rotation_at = ${at} where id = ${id}`;
}

/** Record that a login with these keys was seen; never moves last_used_at backwards. */
export async function markKeysUsed(
  sql: Queryable,
  uses: readonly { fingerprint: string; at: Date }[],
): Promise<void> {
  for (const use of uses) {
    await sql`
      update keys set last_used_at = greatest(coalesce(last_used_at, ${use.at}), ${use.at})
      where fingerprint = ${use.fingerprint}`;
  }
}

export async function insertHandover(
  sql: Queryable,
  input: { keyId: number; fromUserId: number; toUserId: number; byUserId: number; reason: string },
  at: Date,
): Promise<number> {
  const [row] = await sql<{ id: number }[]>`
    insert into key_handovers (key_id, from_user_id, to_user_id, by_user_id, reason, at)
    values (${input.keyId}, ${input.fromUserId}, ${input.toUserId}, ${input.byUserId}, ${input.reason}, ${at})
    returning id`;
  return row!.id;
}

export interface KeyHandover {
  id: number;
  keyId: number;
  fromHandle: string;
  toHandle: string;
  byHandle: string;
  reason: string;
  at: Date;
}

export async function listHandovers(sql: Queryable, keyId: number): Promise<KeyHandover[]> {
  return sql<KeyHandover[]>`
    select h.id, h.key_id as "keyId", f.handle as "fromHandle", t.handle as "toHandle", b.handle as "byHandle",
           h.reason, h.at
    from key_handovers h
    join users f on f.id = h.from_user_id
    join users t on t.id = h.to_user_id
    join users b on b.id = h.by_user_id
    where h.key_id = ${keyId}
    order by h.id`;
}

// ---------------------------------------------------------------- installations

export interface KeyInstallation {
  id: number;
  keyId: number;
  serverId: number;
  serverName: string;
  projectId: number | null;
  projectSlug: string | null;
  login: string;
  tag: string | null;
  installedAt: Date;
  verifiedAt: Date | null;
  removedAt: Date | null;
}

const installationSelect = (sql: Queryable) => sql`
  select i.id, i.key_id as "keyId", i.server_id as "serverId", s.name as "serverName",
         s.project_id as "projectId", p.slug as "projectSlug", i.login, i.tag,
         i.installed_at as "installedAt", i.verified_at as "verifiedAt", i.removed_at as "removedAt"
  from key_installations i
  join servers s on s.id = i.server_id
  left join projects p on p.id = s.project_id`;

export async function insertInstallation(
  sql: Queryable,
  input: { keyId: number; serverId: number; login: string; tag: string | null; verifiedAt: Date | null },
  at: Date,
): Promise<number> {
  const [row] = await sql<{ id: number }[]>`
    insert into key_installations (key_id, server_id, login, tag, installed_at, verified_at)
    values (${input.keyId}, ${input.serverId}, ${input.login}, ${input.tag}, ${at}, ${input.verifiedAt})
    returning id`;
  return row!.id;
}

export async function markInstallationRemoved(sql: Queryable, id: number, at: Date): Promise<void> {
  await sql`update key_installations set removed_at = ${at}, verified_at = ${at} where id = ${id}`;
}

export async function markInstallationVerified(sql: Queryable, id: number, at: Date): Promise<void> {
  await sql`update key_installations set verified_at = ${at} where id = ${id}`;
}

/** Where the keys are now (removed_at is null), by key id. */
export async function listLiveInstallations(
  sql: Queryable,
  keyIds: readonly number[],
): Promise<KeyInstallation[]> {
  if (keyIds.length === 0) return [];
  return sql<KeyInstallation[]>`
    ${installationSelect(sql)}
    where i.removed_at is null and i.key_id = any(${keyIds as number[]})
    order by i.key_id, s.name, i.login`;
}

/** Live installations on these servers (for the audit report). */
export async function listLiveInstallationsOnServers(
  sql: Queryable,
  serverIds: readonly number[],
): Promise<KeyInstallation[]> {
  if (serverIds.length === 0) return [];
  return sql<KeyInstallation[]>`
    ${installationSelect(sql)}
    where i.removed_at is null and i.server_id = any(${serverIds as number[]})
    order by s.name, i.login, i.key_id`;
}

// ---------------------------------------------------------------- views for status and audit

/**
 * Keys visible to a reader: every key they own, plus the service keys and CAs that live on (or
 * belong to) the given projects; `projectIds` null means every key. Retired keys are left out
 * unless asked for.
 */
export async function listVisibleKeys(
  sql: Queryable,
  input: { ownerId: number; projectIds: readonly number[] | null; includeRetired?: boolean },
): Promise<KeyRecord[]> {
  const everything = input.projectIds === null;
  const ids = (input.projectIds ?? []) as number[];
  return sql<KeyRecord[]>`
    ${keySelect(sql)}
    where (${input.includeRetired === true} or k.retired_at is null)
      and (
        ${everything}
        or k.owner_id = ${input.ownerId}
        or (k.kind <> 'user' and k.project_id = any(${ids}))
        or (k.kind <> 'user' and exists (
              select 1 from key_installations i join servers s on s.id = i.server_id
              where i.key_id = k.id and i.removed_at is null and s.project_id = any(${ids})))
      )
    order by k.kind, u.handle, k.id`;
}

/** Every key Warden knows, live or retired, by fingerprint: what the audit matches logins against. */
export async function listAllKeys(sql: Queryable): Promise<KeyRecord[]> {
  return sql<KeyRecord[]>`${keySelect(sql)} order by k.id`;
}

/** Live service keys with their secret's name (the vault context), for rotation. */
export interface ServiceKey extends KeyRecord {
  secretName: string;
}

export async function listLiveServiceKeys(sql: Queryable): Promise<ServiceKey[]> {
  return sql<ServiceKey[]>`
    select x.*, sec.name as "secretName"
    from (${keySelect(sql)} where k.kind = 'service' and k.retired_at is null) x
    join secrets sec on sec.id = x."secretId"
    order by x.id`;
}

export async function getServiceKey(sql: Queryable, id: number): Promise<ServiceKey | undefined> {
  const [row] = await sql<ServiceKey[]>`
    select x.*, sec.name as "secretName"
    from (${keySelect(sql)} where k.id = ${id}) x
    join secrets sec on sec.id = x."secretId"`;
  return row;
}

/** The projects whose settings a key's rotation policy reads. */
export async function listPolicyProjects(
  sql: Queryable,
  ids: readonly number[],
): Promise<{ id: number; slug: string; settings: Record<string, unknown> }[]> {
  if (ids.length === 0) return [];
  return sql<{ id: number; slug: string; settings: Record<string, unknown> }[]>`
    select id, slug, settings from projects where id = any(${ids as number[]}) order by id`;
}

/**
 * Someone pasted a private key into a command: the interaction was recorded before anything ran
 * (so a crash loses nothing), so overwrite its text, and the console's echo of it, with a note.
 */
export async function redactPastedText(
  sql: Queryable,
  input: { platform: string; dedupeKey: string; text: string; note: string },
): Promise<void> {
  await sql`
    update interactions set body = jsonb_set(body, '{text}', to_jsonb(${input.note}::text))
    where platform = ${input.platform} and dedupe_key = ${input.dedupeKey} and body ? 'text'`;
  await sql`
    update console_messages set body = jsonb_set(body, '{text}', to_jsonb(${input.note}::text))
    where body ->> 'text' like ${`%${input.text
      .trim()
      .slice(0, 200)
      .replace(/[\\%_]/g, (c) => `\\${c}`)}%`}`;
}
