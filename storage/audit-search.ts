import type { AuditEvent } from '../commands/audit/trail.js';
import type { Queryable } from './db.js';

export interface AuditSearch {
  /** Only events of these projects; null: every event, including those of no project. */
  projectIds: readonly number[] | null;
  projectId?: number;
  actor?: string;
  /** An exact action, or a prefix when it ends in `.` (`server.` matches `server.created`). */
  action?: string;
  subjectType?: string;
  subjectId?: string;
  since?: Date;
  afterSeq?: number;
  limit: number;
}

/** Audit events in seq order (oldest first), so a reader can follow the trail page by page. */
export async function searchAuditEvents(sql: Queryable, q: AuditSearch): Promise<AuditEvent[]> {
  const prefix = q.action?.endsWith('.') ? q.action : undefined;
  return sql<AuditEvent[]>`
    select seq, at, actor, action, subject_type as "subjectType", subject_id as "subjectId",
           project_id as "projectId", data, request_id as "requestId", prev_hash as "prevHash", hash
    from audit_events
    where true
    ${q.projectIds ? sql`and project_id = any(${q.projectIds as number[]})` : sql``}
    ${q.projectId !== undefined ? sql`and project_id = ${q.projectId}` : sql``}
    ${q.actor !== undefined ? sql`and actor = ${q.actor}` : sql``}
    ${prefix ? sql`and starts_with(action, ${prefix})` : q.action !== undefined ? sql`and action = ${q.action}` : sql``}
    ${q.subjectType !== undefined ? sql`and subject_type = ${q.subjectType}` : sql``}
    ${q.subjectId !== undefined ? sql`and subject_id = ${q.subjectId}` : sql``}
    ${q.since ? sql`and at >= ${q.since}` : sql``}
    ${q.afterSeq !== undefined ? sql`and seq > ${q.afterSeq}` : sql``}
    order by seq
    limit ${q.limit}`;
}
