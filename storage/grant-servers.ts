import type { GrantServerState } from './access.js';
import type { Queryable, Tx } from './db.js';

/**
 * Where each grant's key is, per server (grant_servers), and the revoked certificates whose keys
 * go into RevokedKeys lists. The worker in commands/access/work.ts claims due rows under a lease,
 * so a crash between a commit and the servers only delays the work.
 */
export interface GrantServer {
  grantId: number;
  serverId: number;
  serverName: string;
  tag: string;
  state: GrantServerState;
  attempts: number;
  lastError: string | null;
  updatedAt: Date;
}

export async function insertGrantServers(
  tx: Tx,
  input: { grantId: number; serverIds: readonly number[]; tag: string; state: GrantServerState; at: Date },
): Promise<void> {
  for (const serverId of input.serverIds) {
    await tx`
      insert into grant_servers (grant_id, server_id, tag, state, next_attempt_at, updated_at)
      values (${input.grantId}, ${serverId}, ${input.tag}, ${input.state}, ${input.at}, ${input.at})`;
  }
}

/** Move every row of a grant in one of `from` to `to`, due at once (a new install or a removal). */
export async function moveGrantServers(
  tx: Tx,
  input: { grantId: number; from: readonly GrantServerState[]; to: GrantServerState; at: Date },
): Promise<number> {
  const rows = await tx`
    update grant_servers set state = ${input.to}, attempts = 0, next_attempt_at = ${input.at},
      last_error = null, updated_at = ${input.at}
    where grant_id = ${input.grantId} and state = any(${input.from as GrantServerState[]})
    returning server_id`;
  return rows.length;
}

export async function listGrantServers(sql: Queryable, grantId: number): Promise<GrantServer[]> {
  return sql<GrantServer[]>`
    select g.grant_id as "grantId", g.server_id as "serverId", s.name as "serverName", g.tag, g.state,
      g.attempts, g.last_error as "lastError", g.updated_at as "updatedAt"
    from grant_servers g join servers s on s.id = g.server_id
    where g.grant_id = ${grantId} order by s.name`;
}

/** One claimed unit of work: a server row of a grant, with what the worker needs to act. */
export interface GrantWork {
  grantId: number;
  serverId: number;
  tag: string;
  state: 'pending' | 'failed' | 'removing';
  attempts: number;
}

/**
 * Claim due rows under a lease: installs of active grants whose window has begun, and removals
 * (or, for certificates, revocation-list pushes). A claimed row is not claimed again until the
 * lease runs out, so a crashed worker's rows are picked up by the next one.
 */
export async function claimGrantWork(
  sql: Queryable,
  input: { now: Date; leaseMs: number; limit: number; grantId?: number },
): Promise<GrantWork[]> {
  const until = new Date(input.now.getTime() + input.leaseMs);
  return sql<GrantWork[]>`
    update grant_servers gs set locked_until = ${until}
    from (
      select r.grant_id, r.server_id from grant_servers r join grants g on g.id = r.grant_id
      where r.next_attempt_at <= ${input.now}
        and (r.locked_until is null or r.locked_until <= ${input.now})
        ${input.grantId === undefined ? sql`` : sql`and r.grant_id = ${input.grantId}`}
        and (
          r.state = 'removing'
          or (r.state in ('pending', 'failed') and g.status = 'active' and g.mode = 'authorized-keys'
              and g.starts_at <= ${input.now} and g.expires_at > ${input.now})
        )
      order by r.next_attempt_at, r.grant_id, r.server_id
      limit ${input.limit}
      for update of r skip locked
    ) due
    where gs.grant_id = due.grant_id and gs.server_id = due.server_id
    returning gs.grant_id as "grantId", gs.server_id as "serverId", gs.tag, gs.state, gs.attempts`;
}

/**
 * Record what a worker did with a claimed row and release it. The state moves only when the row
 * is still in the state the worker claimed (a revocation may have moved it meanwhile).
 */
export async function finishGrantWork(
  sql: Queryable,
  input: {
    grantId: number;
    serverId: number;
    from: GrantServerState;
    to: GrantServerState;
    at: Date;
    error: string | null;
    nextAttemptAt: Date;
    countAttempt: boolean;
  },
): Promise<boolean> {
  const rows = await sql`
    update grant_servers set
      state = case when state = ${input.from} then ${input.to} else state end,
      attempts = case when state = ${input.from} and ${input.countAttempt} then attempts + 1
                      when state = ${input.from} then 0 else attempts end,
      last_error = case when state = ${input.from} then ${input.error} else last_error end,
      next_attempt_at = case when state = ${input.from} then ${input.nextAttemptAt} else next_attempt_at end,
      locked_until = null, updated_at = ${input.at}
    where grant_id = ${input.grantId} and server_id = ${input.serverId}
    returning state`;
  return (rows[0] as { state?: string } | undefined)?.state === input.to;
}

export async function insertRevokedCertificate(
  tx: Tx,
  input: {
    grantId: number;
    projectId: number;
    publicKey: string;
    keyFingerprint: string;
    serial: number | null;
    keyId: string | null;
    validUntil: Date;
    revokedAt: Date;
    revokedBy: string;
  },
): Promise<void> {
  await tx`
    insert into revoked_certificates (grant_id, project_id, public_key, key_fingerprint, serial, key_id,
      valid_until, revoked_at, revoked_by)
    values (${input.grantId}, ${input.projectId}, ${input.publicKey}, ${input.keyFingerprint}, ${input.serial},
      ${input.keyId}, ${input.validUntil}, ${input.revokedAt}, ${input.revokedBy})`;
}

/** Keys of a project's revoked certificates that have not run out yet: its RevokedKeys list. */
export async function listLiveRevokedKeys(
  sql: Queryable,
  projectId: number,
  now: Date,
): Promise<{ publicKey: string; keyFingerprint: string; grantId: number; validUntil: Date }[]> {
  return sql`
    select distinct on (key_fingerprint) public_key as "publicKey", key_fingerprint as "keyFingerprint",
      grant_id as "grantId", valid_until as "validUntil"
    from revoked_certificates
    where project_id = ${projectId} and valid_until > ${now}
    order by key_fingerprint, valid_until desc`;
}

/** Server names by id (the worker looks servers up by name through the inventory queries). */
export async function serverNamesByIds(sql: Queryable, ids: readonly number[]): Promise<Map<number, string>> {
  if (ids.length === 0) return new Map();
  const rows = await sql<{ id: number; name: string }[]>`
    select id, name from servers where id = any(${ids.map(String)}::bigint[])`;
  return new Map(rows.map((r) => [r.id, r.name]));
}

/**
 * Revocations whose certificate has run out and whose key still sits on the servers' lists:
 * their grants' lists are pushed again, without the key. Locked so two sweepers do it once.
 */
export async function takeRunOutRevocations(tx: Tx, now: Date, limit = 200): Promise<{ grantId: number }[]> {
  return tx<{ grantId: number }[]>`
    update revoked_certificates set pruned_at = ${now}
    where id in (
      select id from revoked_certificates where pruned_at is null and valid_until <= ${now}
      order by valid_until limit ${limit} for update skip locked)
    returning grant_id as "grantId"`;
}
