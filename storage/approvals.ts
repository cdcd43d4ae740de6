import type { Field } from '../bot/chat/model.js';
import type { Queryable, Tx } from './db.js';

/**
 * Queries behind the approvals engine (commands/approvals/engine.ts). The engine owns the rules;
 * these only read and write rows. Status changes are guarded by `status = 'pending'` so a stale
 * caller can never move a finished request.
 */
export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled';
export type ApprovalVerdict = 'approve' | 'deny';

/** What the request's message shows (`fields`) and what its subject needs later (`data`). */
export interface ApprovalDetails {
  fields: Field[];
  data: Record<string, unknown>;
}

export interface ApprovalRequest {
  id: number;
  subjectType: string;
  subjectId: string;
  projectId: number | null;
  requesterId: number;
  permission: string;
  requiredApprovals: number;
  denyEnds: boolean;
  status: ApprovalStatus;
  title: string;
  details: ApprovalDetails;
  expiresAt: Date;
  remindAt: Date | null;
  remindedAt: Date | null;
  escalateAt: Date | null;
  escalatedAt: Date | null;
  escalationPermission: string | null;
  createdAt: Date;
  decidedAt: Date | null;
  decidedReason: string | null;
}

export interface ApprovalDecisionRow {
  requestId: number;
  approverId: number;
  approverHandle: string;
  approverName: string;
  decision: ApprovalVerdict;
  comment: string | null;
  decidedAt: Date;
}

const requestColumns = (sql: Queryable) => sql`
  id, subject_type as "subjectType", subject_id as "subjectId", project_id as "projectId",
  requester_id as "requesterId", permission, required_approvals as "requiredApprovals",
  deny_ends as "denyEnds", status, title, details, expires_at as "expiresAt", remind_at as "remindAt",
  reminded_at as "remindedAt", escalate_at as "escalateAt", escalated_at as "escalatedAt",
  escalation_permission as "escalationPermission", created_at as "createdAt", decided_at as "decidedAt",
  decided_reason as "decidedReason"`;

export interface NewApprovalRequest {
  subjectType: string;
  subjectId: string;
  projectId: number | null;
  requesterId: number;
  permission: string;
  requiredApprovals: number;
  denyEnds: boolean;
  title: string;
  details: ApprovalDetails;
  expiresAt: Date;
  remindAt: Date | null;
  escalateAt: Date | null;
  escalationPermission: string;
  createdAt: Date;
}

export async function insertApprovalRequest(tx: Tx, input: NewApprovalRequest): Promise<ApprovalRequest> {
  const [row] = await tx<ApprovalRequest[]>`
    insert into approval_requests (subject_type, subject_id, project_id, requester_id, permission,
      required_approvals, deny_ends, title, details, expires_at, remind_at, escalate_at, escalation_permission,
      created_at)
    values (${input.subjectType}, ${input.subjectId}, ${input.projectId}, ${input.requesterId},
      ${input.permission}, ${input.requiredApprovals}, ${input.denyEnds}, ${input.title},
      ${tx.json(input.details as never)}, ${input.expiresAt}, ${input.remindAt}, ${input.escalateAt},
      ${input.escalationPermission}, ${input.createdAt})
    returning ${requestColumns(tx)}`;
  return row!;
}

export async function getApprovalRequest(sql: Queryable, id: number): Promise<ApprovalRequest | undefined> {
  const [row] = await sql<
    ApprovalRequest[]
  >`select ${requestColumns(sql)} from approval_requests where id = ${id}`;
  return row;
}

/** Lock the request until the transaction ends: decisions and the sweep serialise on this row. */
export async function lockApprovalRequest(tx: Tx, id: number): Promise<ApprovalRequest | undefined> {
  const [row] = await tx<ApprovalRequest[]>`
    select ${requestColumns(tx)} from approval_requests where id = ${id} for update`;
  return row;
}

/** The pending request for a subject, locked; at most one exists (unique partial index). */
export async function lockPendingForSubject(
  tx: Tx,
  subjectType: string,
  subjectId: string,
): Promise<ApprovalRequest | undefined> {
  const [row] = await tx<ApprovalRequest[]>`
    select ${requestColumns(tx)} from approval_requests
    where subject_type = ${subjectType} and subject_id = ${subjectId} and status = 'pending'
    for update`;
  return row;
}

export async function listApprovalDecisions(
  sql: Queryable,
  requestId: number,
): Promise<ApprovalDecisionRow[]> {
  return sql<ApprovalDecisionRow[]>`
    select d.request_id as "requestId", d.approver_id as "approverId", u.handle as "approverHandle",
      u.display_name as "approverName", d.decision, d.comment, d.decided_at as "decidedAt"
    from approval_decisions d join users u on u.id = d.approver_id
    where d.request_id = ${requestId}
    order by d.decided_at, u.handle`;
}

export async function insertApprovalDecision(
  tx: Tx,
  input: {
    requestId: number;
    approverId: number;
    decision: ApprovalVerdict;
    comment: string | null;
    at: Date;
  },
): Promise<void> {
  await tx`
    insert into approval_decisions (request_id, approver_id, decision, comment, decided_at)
    values (${input.requestId}, ${input.approverId}, ${input.decision}, ${input.comment}, ${input.at})`;
}

/** Move a pending request to a final state; returns false when it was no longer pending. */
/** Finish a pending request; returns it as it now is, or undefined when it was not pending. */
export async function finishApprovalRequest(
  tx: Tx,
  input: { id: number; status: Exclude<ApprovalStatus, 'pending'>; at: Date; reason: string | null },
): Promise<ApprovalRequest | undefined> {
  const [row] = await tx<ApprovalRequest[]>`
    update approval_requests set status = ${input.status}, decided_at = ${input.at}, decided_reason = ${input.reason}
    where id = ${input.id} and status = 'pending'
    returning ${requestColumns(tx)}`;
  return row;
}

export async function markApprovalReminded(tx: Tx, id: number, at: Date): Promise<void> {
  await tx`update approval_requests set reminded_at = ${at} where id = ${id} and reminded_at is null`;
}

export async function markApprovalEscalated(tx: Tx, id: number, at: Date): Promise<void> {
  await tx`update approval_requests set escalated_at = ${at} where id = ${id} and escalated_at is null`;
}

/** Pending requests with something due at `now`: expiry, a reminder or an escalation not yet sent. */
export async function listDueApprovalIds(sql: Queryable, now: Date, limit = 500): Promise<number[]> {
  const rows = await sql<{ id: number }[]>`
    select id from approval_requests
    where status = 'pending'
      and (expires_at <= ${now}
        or (remind_at <= ${now} and reminded_at is null)
        or (escalate_at <= ${now} and escalated_at is null))
    order by id
    limit ${limit}`;
  return rows.map((r) => r.id);
}

/** Pending, unexpired requests the user did not open and has not yet decided (permission checked by caller). */
export async function listPendingNotDecidedBy(
  sql: Queryable,
  userId: number,
  now: Date,
  limit = 200,
): Promise<ApprovalRequest[]> {
  return sql<ApprovalRequest[]>`
    select ${requestColumns(sql)} from approval_requests r
    where r.status = 'pending' and r.expires_at > ${now} and r.requester_id <> ${userId}
      and not exists (select 1 from approval_decisions d where d.request_id = r.id and d.approver_id = ${userId})
    order by r.expires_at, r.id
    limit ${limit}`;
}

export async function listPendingByRequester(
  sql: Queryable,
  userId: number,
  now: Date,
  limit = 50,
): Promise<ApprovalRequest[]> {
  return sql<ApprovalRequest[]>`
    select ${requestColumns(sql)} from approval_requests
    where status = 'pending' and expires_at > ${now} and requester_id = ${userId}
    order by created_at, id
    limit ${limit}`;
}

/** Count approvals per request, for lists. */
export async function countApprovals(
  sql: Queryable,
  requestIds: readonly number[],
): Promise<Map<number, number>> {
  if (requestIds.length === 0) return new Map();
  const rows = await sql<{ requestId: number; n: number }[]>`
    select request_id as "requestId", count(*)::int as n from approval_decisions
    where request_id = any(${requestIds as number[]}) and decision = 'approve'
    group by request_id`;
  return new Map(rows.map((r) => [r.requestId, r.n]));
}
