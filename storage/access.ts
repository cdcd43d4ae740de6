import type { Queryable, Tx } from './db.js';

/**
 * Queries behind just-in-time access (commands/access/). The rules live there; these only read and
 * write rows. Every status change is guarded by the status it leaves, so a stale caller cannot
 * move a request or grant that someone else already finished.
 */
export type AccessMode = 'authorized-keys' | 'certificate';
export type AccessRequestStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled';
export type GrantStatus = 'active' | 'expired' | 'revoked';
export type GrantServerState = 'pending' | 'installed' | 'removing' | 'removed' | 'failed';

export interface AccessRequest {
  id: number;
  requesterId: number;
  projectId: number;
  scope: 'server' | 'project';
  scopeName: string;
  serverIds: number[];
  login: string;
  durationMs: number;
  requestedStart: Date | null;
  ticket: string;
  reason: string;
  mode: AccessMode;
  emergency: boolean;
  publicKey: string;
  keyFingerprint: string;
  /** The key registry's id for the key (keys.id). */
  keyId: number | null;
  extendsGrantId: number | null;
  status: AccessRequestStatus;
  approvalId: number | null;
  createdAt: Date;
  decidedAt: Date | null;
}

export type NewAccessRequest = Omit<AccessRequest, 'id' | 'approvalId' | 'decidedAt'>;

export interface Grant {
  id: number;
  requestId: number;
  requesterId: number;
  projectId: number;
  approvalId: number | null;
  login: string;
  mode: AccessMode;
  publicKey: string;
  keyFingerprint: string;
  keyId: number | null;
  fromPatterns: string | null;
  ticket: string;
  emergency: boolean;
  status: GrantStatus;
  startsAt: Date;
  expiresAt: Date;
  certSerial: number | null;
  certKeyId: string | null;
  certificate: string | null;
  reviewedAt: Date | null;
  reviewedBy: number | null;
  createdAt: Date;
  endedAt: Date | null;
  endedBy: string | null;
  endReason: string | null;
}

export type NewGrant = Pick<
  Grant,
  | 'requestId'
  | 'requesterId'
  | 'projectId'
  | 'approvalId'
  | 'login'
  | 'mode'
  | 'publicKey'
  | 'keyFingerprint'
  | 'keyId'
  | 'fromPatterns'
  | 'ticket'
  | 'emergency'
  | 'startsAt'
  | 'expiresAt'
  | 'createdAt'
>;

const requestColumns = (sql: Queryable) => sql`
  id, requester_id as "requesterId", project_id as "projectId", scope, scope_name as "scopeName",
  to_json(server_ids) as "serverIds", login, duration_ms as "durationMs", requested_start as "requestedStart",
  ticket, reason, mode, emergency, public_key as "publicKey", key_fingerprint as "keyFingerprint",
  key_id as "keyId", extends_grant_id as "extendsGrantId", status, approval_id as "approvalId", created_at as "createdAt",
  decided_at as "decidedAt"`;

const grantColumns = (sql: Queryable) => sql`
  id, request_id as "requestId", requester_id as "requesterId", project_id as "projectId",
  approval_id as "approvalId", login, mode, public_key as "publicKey", key_fingerprint as "keyFingerprint",
  key_id as "keyId", from_patterns as "fromPatterns", ticket, emergency, status, starts_at as "startsAt", expires_at as "expiresAt",
  cert_serial as "certSerial", cert_key_id as "certKeyId", certificate, reviewed_at as "reviewedAt",
  reviewed_by as "reviewedBy", created_at as "createdAt", ended_at as "endedAt", ended_by as "endedBy",
  end_reason as "endReason"`;

export async function insertAccessRequest(tx: Tx, input: NewAccessRequest): Promise<AccessRequest> {
  const [row] = await tx<AccessRequest[]>`
    insert into access_requests (requester_id, project_id, scope, scope_name, server_ids, login, duration_ms,
      requested_start, ticket, reason, mode, emergency, public_key, key_fingerprint, key_id, extends_grant_id,
      status, created_at, decided_at)
    values (${input.requesterId}, ${input.projectId}, ${input.scope}, ${input.scopeName},
      ${input.serverIds.map(String)}::bigint[], ${input.login}, ${input.durationMs}, ${input.requestedStart},
      ${input.ticket}, ${input.reason}, ${input.mode}, ${input.emergency}, ${input.publicKey},
      ${input.keyFingerprint}, ${input.keyId}, ${input.extendsGrantId}, ${input.status}, ${input.createdAt},
      ${input.status === 'pending' ? null : input.createdAt})
    returning ${requestColumns(tx)}`;
  return row!;
}

export async function setAccessRequestApproval(tx: Tx, id: number, approvalId: number): Promise<void> {
  await tx`update access_requests set approval_id = ${approvalId} where id = ${id}`;
}

export async function getAccessRequest(sql: Queryable, id: number): Promise<AccessRequest | undefined> {
  const [row] = await sql<
    AccessRequest[]
  >`select ${requestColumns(sql)} from access_requests where id = ${id}`;
  return row;
}

export async function lockAccessRequest(tx: Tx, id: number): Promise<AccessRequest | undefined> {
  const [row] = await tx<AccessRequest[]>`
    select ${requestColumns(tx)} from access_requests where id = ${id} for update`;
  return row;
}

/** Move a pending request to its final status; false when it was no longer pending. */
export async function finishAccessRequest(
  tx: Tx,
  id: number,
  status: Exclude<AccessRequestStatus, 'pending'>,
  at: Date,
): Promise<boolean> {
  const rows = await tx`
    update access_requests set status = ${status}, decided_at = ${at}
    where id = ${id} and status = 'pending' returning id`;
  return rows.length === 1;
}

export async function nextCertificateSerial(tx: Tx): Promise<number> {
  const [row] = await tx<{ serial: number }[]>`select nextval('access_certificate_serial') as serial`;
  return row!.serial;
}

export async function insertGrant(tx: Tx, input: NewGrant): Promise<Grant> {
  const [row] = await tx<Grant[]>`
    insert into grants (request_id, requester_id, project_id, approval_id, login, mode, public_key,
      key_fingerprint, key_id, from_patterns, ticket, emergency, starts_at, expires_at, created_at)
    values (${input.requestId}, ${input.requesterId}, ${input.projectId}, ${input.approvalId}, ${input.login},
      ${input.mode}, ${input.publicKey}, ${input.keyFingerprint}, ${input.keyId}, ${input.fromPatterns}, ${input.ticket},
      ${input.emergency}, ${input.startsAt}, ${input.expiresAt}, ${input.createdAt})
    returning ${grantColumns(tx)}`;
  return row!;
}

export async function getGrant(sql: Queryable, id: number): Promise<Grant | undefined> {
  const [row] = await sql<Grant[]>`select ${grantColumns(sql)} from grants where id = ${id}`;
  return row;
}

export async function lockGrant(tx: Tx, id: number): Promise<Grant | undefined> {
  const [row] = await tx<Grant[]>`select ${grantColumns(tx)} from grants where id = ${id} for update`;
  return row;
}

export async function setGrantCertificate(
  tx: Tx,
  id: number,
  cert: { serial: number; keyId: string; certificate: string },
): Promise<void> {
  await tx`
    update grants set cert_serial = ${cert.serial}, cert_key_id = ${cert.keyId}, certificate = ${cert.certificate}
    where id = ${id}`;
}

export async function setGrantExpiry(tx: Tx, id: number, expiresAt: Date): Promise<void> {
  await tx`update grants set expires_at = ${expiresAt} where id = ${id} and status = 'active'`;
}

/** End an active grant; false when it had already ended. */
export async function endGrant(
  tx: Tx,
  id: number,
  input: { status: Exclude<GrantStatus, 'active'>; at: Date; by: string; reason: string | null },
): Promise<boolean> {
  const rows = await tx`
    update grants set status = ${input.status}, ended_at = ${input.at}, ended_by = ${input.by},
      end_reason = ${input.reason}
    where id = ${id} and status = 'active' returning id`;
  return rows.length === 1;
}

export async function markGrantReviewed(tx: Tx, id: number, by: number, at: Date): Promise<void> {
  await tx`update grants set reviewed_at = ${at}, reviewed_by = ${by} where id = ${id}`;
}

/** Active grants whose time is up, oldest first; SKIP LOCKED so two sweepers split the work. */
export async function lockExpiredGrants(tx: Tx, now: Date, limit: number): Promise<Grant[]> {
  return tx<Grant[]>`
    select ${grantColumns(tx)} from grants
    where status = 'active' and expires_at <= ${now}
    order by expires_at, id limit ${limit}
    for update skip locked`;
}

export interface AccessListFilter {
  /** Requests and grants of this user… */
  userId: number;
  /** …plus everything in these projects (the ones the caller approves for). */
  projectIds: readonly number[];
  limit: number;
}

export async function listAccessRequests(sql: Queryable, filter: AccessListFilter): Promise<AccessRequest[]> {
  return sql<AccessRequest[]>`
    select ${requestColumns(sql)} from access_requests
    where requester_id = ${filter.userId} or project_id = any(${filter.projectIds as number[]})
    order by id desc limit ${filter.limit}`;
}

export async function listGrants(sql: Queryable, filter: AccessListFilter): Promise<Grant[]> {
  return sql<Grant[]>`
    select ${grantColumns(sql)} from grants
    where requester_id = ${filter.userId} or project_id = any(${filter.projectIds as number[]})
    order by id desc limit ${filter.limit}`;
}

export async function lockGrantByRequest(tx: Tx, requestId: number): Promise<Grant | undefined> {
  const [row] = await tx<
    Grant[]
  >`select ${grantColumns(tx)} from grants where request_id = ${requestId} for update`;
  return row;
}
