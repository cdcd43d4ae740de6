import type { Queryable } from './db.js';

/**
 * Read-only queries behind the post-action audit report (commands/audit/report.ts). They read
 * other capabilities' tables (the trail, scans, grants) and never write.
 */
export interface ExecEventRow {
  seq: number;
  at: Date;
  actor: string;
  action: string;
  subjectType: string | null;
  subjectId: string | null;
  projectId: number | null;
  data: Record<string, unknown>;
}

/**
 * Trail events that record commands run on servers: any event whose data carries `exec` (the
 * convention: `{ server, argv0, script?, login?, for? }` or a list of them), and the access
 * half's `access.servers-updated` (authorized_keys edits for a grant).
 */
export async function listExecEvents(
  sql: Queryable,
  input: { projectIds: readonly number[] | null; since: Date; limit: number },
): Promise<ExecEventRow[]> {
  return sql<ExecEventRow[]>`
    select seq, at, actor, action, subject_type as "subjectType", subject_id as "subjectId",
           project_id as "projectId", data
    from audit_events
    where at >= ${input.since}
      and (data ? 'exec' or action = 'access.servers-updated')
      ${input.projectIds ? sql`and project_id = any(${input.projectIds as number[]})` : sql``}
    order by seq
    limit ${input.limit}`;
}

export interface ScanRunRow {
  at: Date;
  serverId: number;
  method: string | null;
  status: string;
  triggeredBy: string;
  requestedRef: string | null;
}

/** Scans run on these servers since `since`, with who asked for them (the batch's requester). */
export async function listScanRuns(
  sql: Queryable,
  input: { serverIds: readonly number[]; since: Date; limit: number },
): Promise<ScanRunRow[]> {
  if (input.serverIds.length === 0) return [];
  return sql<ScanRunRow[]>`
    select s.started_at as at, s.server_id as "serverId", s.method, s.status, s.triggered_by as "triggeredBy",
           b.requested_ref as "requestedRef"
    from scans s left join scan_batches b on b.id = s.batch_id
    where s.server_id = any(${input.serverIds as number[]}) and s.started_at >= ${input.since}
    order by s.started_at
    limit ${input.limit}`;
}

export interface GrantOnServer {
  grantId: number;
  serverId: number;
  requester: string;
  login: string;
  fingerprint: string;
  mode: string;
  status: string;
  startsAt: Date;
  /** When the grant stopped: ended_at, else expires_at. */
  endsAt: Date;
}

/** Every grant (any status) that covered one of these servers: what logins are matched against. */
export async function listGrantsOnServers(
  sql: Queryable,
  serverIds: readonly number[],
): Promise<GrantOnServer[]> {
  if (serverIds.length === 0) return [];
  return sql<GrantOnServer[]>`
    select g.id as "grantId", gs.server_id as "serverId", u.handle as requester, g.login,
           g.key_fingerprint as fingerprint, g.mode, g.status, g.starts_at as "startsAt",
           coalesce(least(g.ended_at, g.expires_at), g.expires_at) as "endsAt"
    from grants g
    join grant_servers gs on gs.grant_id = g.id
    join users u on u.id = g.requester_id
    where gs.server_id = any(${serverIds as number[]})
    order by g.id`;
}
