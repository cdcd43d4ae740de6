import type { Queryable } from './db.js';

/**
 * Script runs and their per-server results (migration 1700000000070): the run row, one row per
 * server with its exit code, duration and full output. Times are passed in, never SQL `now()`.
 */
export type RunStatus =
  | 'awaiting-approval'
  | 'queued'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'partially-failed'
  | 'cancelled'
  | 'denied'
  | 'expired'
  | 'interrupted';

export const FINISHED_RUN_STATUSES: readonly RunStatus[] = [
  'succeeded',
  'failed',
  'partially-failed',
  'cancelled',
  'denied',
  'expired',
  'interrupted',
];

export type ScopeKind = 'server' | 'project' | 'tag';

export interface RunRow {
  id: number;
  scriptId: number;
  scriptName: string;
  versionId: number;
  version: number;
  scopeKind: ScopeKind;
  scopeValue: string;
  projectId: number | null;
  params: Record<string, string>;
  concurrency: number;
  status: RunStatus;
  requestedBy: number | null;
  requestedRef: string;
  approvalId: number | null;
  error: string | null;
  createdAt: Date;
  startedAt: Date | null;
  heartbeatAt: Date | null;
  finishedAt: Date | null;
  cancelledBy: string | null;
}

const runSelect = (sql: Queryable) => sql`
  select r.id, r.script_id as "scriptId", s.name as "scriptName", r.version_id as "versionId", v.version,
         r.scope_kind as "scopeKind", r.scope_value as "scopeValue", r.project_id as "projectId", r.params,
         r.concurrency, r.status, r.requested_by as "requestedBy", r.requested_ref as "requestedRef",
         r.approval_id as "approvalId", r.error, r.created_at as "createdAt", r.started_at as "startedAt",
         r.heartbeat_at as "heartbeatAt", r.finished_at as "finishedAt", r.cancelled_by as "cancelledBy"
  from script_runs r join scripts s on s.id = r.script_id join script_versions v on v.id = r.version_id`;

export interface NewRun {
  scriptId: number;
  versionId: number;
  scopeKind: ScopeKind;
  scopeValue: string;
  projectId: number | null;
  params: Record<string, string>;
  concurrency: number;
  status: 'awaiting-approval' | 'queued';
  requestedBy: number;
  requestedRef: string;
  servers: readonly { id: number; name: string }[];
}

export async function insertRun(sql: Queryable, input: NewRun, at: Date): Promise<RunRow> {
  const [row] = await sql<{ id: number }[]>`
    insert into script_runs (script_id, version_id, scope_kind, scope_value, project_id, params, concurrency, status,
                             requested_by, requested_ref, created_at)
    values (${input.scriptId}, ${input.versionId}, ${input.scopeKind}, ${input.scopeValue}, ${input.projectId},
            ${sql.json(input.params)}, ${input.concurrency}, ${input.status}, ${input.requestedBy},
            ${input.requestedRef}, ${at})
    returning id`;
  const id = row!.id;
  const rows = input.servers.map((s) => ({
    run_id: id,
    server_id: s.id,
    server_name: s.name,
    status: 'pending',
  }));
  // Batches keep one statement's parameters under Postgres's limit on a large fleet.
  for (let i = 0; i < rows.length; i += 1000) {
    await sql`insert into script_run_servers ${sql(rows.slice(i, i + 1000), 'run_id', 'server_id', 'server_name', 'status')}`;
  }
  return (await getRun(sql, id))!;
}

export async function getRun(sql: Queryable, id: number): Promise<RunRow | undefined> {
  const [row] = await sql<RunRow[]>`${runSelect(sql)} where r.id = ${id}`;
  return row;
}

export async function lockRun(sql: Queryable, id: number): Promise<RunRow | undefined> {
  const [locked] = await sql<{ id: number }[]>`select id from script_runs where id = ${id} for update`;
  return locked ? getRun(sql, id) : undefined;
}

/** Runs newest first, optionally of one script and only in some projects (null: all). */
export async function listRuns(
  sql: Queryable,
  filter: { scriptName?: string; projectIds: readonly number[] | null; beforeId?: number; limit: number },
): Promise<RunRow[]> {
  return sql<RunRow[]>`
    ${runSelect(sql)}
    where true
    ${filter.scriptName ? sql`and s.name = ${filter.scriptName}` : sql``}
    ${filter.projectIds ? sql`and r.project_id = any(${filter.projectIds as number[]})` : sql``}
    ${filter.beforeId !== undefined ? sql`and r.id < ${filter.beforeId}` : sql``}
    order by r.id desc limit ${filter.limit}`;
}

export async function setRunStatus(
  sql: Queryable,
  id: number,
  input: { from: readonly RunStatus[]; to: RunStatus; at: Date; error?: string | null; cancelledBy?: string },
): Promise<boolean> {
  const finished = FINISHED_RUN_STATUSES.includes(input.to);
  const rows = await sql`
    update script_runs
    set status = ${input.to},
        error = coalesce(${input.error ?? null}, error),
        started_at = case when ${input.to} = 'running' then ${input.at} else started_at end,
        heartbeat_at = case when ${input.to} = 'running' then ${input.at} else heartbeat_at end,
        finished_at = case when ${finished} then ${input.at} else finished_at end,
        cancelled_by = coalesce(${input.cancelledBy ?? null}, cancelled_by)
    where id = ${id} and status = any(${input.from as string[]})
    returning id`;
  return rows.length === 1;
}

export async function setRunApproval(sql: Queryable, id: number, approvalId: number): Promise<void> {
  await sql`update script_runs set approval_id = ${approvalId} where id = ${id}`;
}

export async function touchRun(sql: Queryable, id: number, at: Date): Promise<void> {
  await sql`update script_runs set heartbeat_at = ${at} where id = ${id}`;
}

/** Runs still 'running' whose heartbeat is older than `before` (their process died). */
export async function listStaleRuns(sql: Queryable, before: Date): Promise<number[]> {
  const rows = await sql<{ id: number }[]>`
    select id from script_runs where status = 'running' and heartbeat_at < ${before} order by id`;
  return rows.map((r) => r.id);
}

// ---------------------------------------------------------------- per-server results

export type RunServerStatus =
  | 'pending'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'timed-out'
  | 'cancelled'
  | 'skipped'
  | 'error';

export interface RunServerRow {
  id: number;
  runId: number;
  serverId: number | null;
  serverName: string;
  status: RunServerStatus;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  truncated: boolean;
  error: string | null;
  durationMs: number | null;
  cancelToken: string | null;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface RunServerOutput extends RunServerRow {
  stdout: string;
  stderr: string;
}

const runServerColumns = (sql: Queryable) => sql`
  id, run_id as "runId", server_id as "serverId", server_name as "serverName", status, exit_code as "exitCode",
  signal, timed_out as "timedOut", truncated, error, duration_ms as "durationMs", cancel_token as "cancelToken",
  started_at as "startedAt", finished_at as "finishedAt"`;

/** Every server of a run with its state (no output), by name. */
export async function listRunServers(sql: Queryable, runId: number): Promise<RunServerRow[]> {
  return sql<RunServerRow[]>`
    select ${runServerColumns(sql)} from script_run_servers where run_id = ${runId} order by server_name`;
}

export async function getRunServerOutput(
  sql: Queryable,
  runId: number,
  serverName: string,
): Promise<RunServerOutput | undefined> {
  const [row] = await sql<(RunServerRow & { stdout: Buffer; stderr: Buffer })[]>`
    select ${runServerColumns(sql)}, stdout, stderr from script_run_servers
    where run_id = ${runId} and server_name = ${serverName}`;
  return row && { ...row, stdout: row.stdout.toString('utf8'), stderr: row.stderr.toString('utf8') };
}

/** Take the next pending server of a run; none when the rest were cancelled or taken. */
export async function claimNextRunServer(
  sql: Queryable,
  runId: number,
  input: { at: Date; cancelToken: string },
): Promise<RunServerRow | undefined> {
  const [row] = await sql<RunServerRow[]>`
    update script_run_servers set status = 'running', started_at = ${input.at}, cancel_token = ${input.cancelToken}
    where id = (select id from script_run_servers where run_id = ${runId} and status = 'pending'
                order by server_name limit 1 for update skip locked)
    returning ${runServerColumns(sql)}`;
  return row;
}

export interface RunServerResult {
  status: Exclude<RunServerStatus, 'pending' | 'running'>;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  truncated: boolean;
  stdout: string;
  stderr: string;
  error: string | null;
  durationMs: number | null;
}

export async function finishRunServer(
  sql: Queryable,
  id: number,
  result: RunServerResult,
  at: Date,
): Promise<RunServerRow> {
  const [row] = await sql<RunServerRow[]>`
    update script_run_servers
    set status = ${result.status}, exit_code = ${result.exitCode}, signal = ${result.signal},
        timed_out = ${result.timedOut}, truncated = ${result.truncated}, stdout = ${Buffer.from(result.stdout)},
        stderr = ${Buffer.from(result.stderr)}, error = ${result.error}, duration_ms = ${result.durationMs},
        finished_at = ${at}
    where id = ${id}
    returning ${runServerColumns(sql)}`;
  return row!;
}

/** Mark every pending server of a run as `status` (cancel, interruption); returns their names. */
export async function closePendingRunServers(
  sql: Queryable,
  runId: number,
  input: { status: 'cancelled' | 'error'; error: string | null; at: Date; includeRunning?: boolean },
): Promise<string[]> {
  const states = input.includeRunning ? ['pending', 'running'] : ['pending'];
  const rows = await sql<{ serverName: string }[]>`
    update script_run_servers set status = ${input.status}, error = ${input.error}, finished_at = ${input.at}
    where run_id = ${runId} and status = any(${states})
    returning server_name as "serverName"`;
  return rows.map((r) => r.serverName).sort();
}
