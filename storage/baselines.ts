import type { Queryable, Tx } from './db.js';

/** Configuration baselines: runs, per-check history, the current state per check, remediations. */

export type BaselineStatus = 'pass' | 'fail' | 'unknown';
export type BaselineResultStatus = 'pass' | 'fail' | 'error';

export interface BaselineRunInsert {
  serverId: number;
  projectId: number | null;
  baseline: string;
  triggeredBy: string;
  startedAt: Date;
  finishedAt: Date;
  status: 'succeeded' | 'failed';
  error: string | null;
  passed: number;
  failed: number;
  errored: number;
}

export async function insertBaselineRun(sql: Queryable, input: BaselineRunInsert): Promise<number> {
  const [row] = await sql<{ id: number }[]>`
    insert into baseline_runs (server_id, project_id, baseline, triggered_by, started_at, finished_at, status, error,
                               passed, failed, errored)
    values (${input.serverId}, ${input.projectId}, ${input.baseline}, ${input.triggeredBy}, ${input.startedAt},
            ${input.finishedAt}, ${input.status}, ${input.error}, ${input.passed}, ${input.failed}, ${input.errored})
    returning id`;
  return row!.id;
}

export interface BaselineResultInsert {
  checkId: string;
  level: number;
  title: string;
  status: BaselineResultStatus;
  evidence: string;
  exitCode: number | null;
}

export async function insertBaselineResults(
  sql: Queryable,
  runId: number,
  serverId: number,
  at: Date,
  results: readonly BaselineResultInsert[],
): Promise<void> {
  if (results.length === 0) return;
  const rows = results.map((r) => ({
    run_id: runId,
    server_id: serverId,
    check_id: r.checkId,
    level: r.level,
    title: r.title,
    status: r.status,
    evidence: r.evidence,
    exit_code: r.exitCode,
    at,
  }));
  await sql`insert into baseline_results ${sql(rows)}`;
}

export interface BaselineStateRow {
  serverId: number;
  checkId: string;
  title: string;
  level: number;
  status: BaselineStatus;
  since: Date;
  lastResult: BaselineResultStatus;
  lastEvidence: string;
  lastCheckedAt: Date;
  lastRunId: number;
  lastPassedAt: Date | null;
  driftedAt: Date | null;
  driftAlertedAt: Date | null;
}

const stateColumns = (sql: Queryable) => sql`
  server_id as "serverId", check_id as "checkId", title, level, status, since, last_result as "lastResult",
  last_evidence as "lastEvidence", last_checked_at as "lastCheckedAt", last_run_id as "lastRunId",
  last_passed_at as "lastPassedAt", drifted_at as "driftedAt", drift_alerted_at as "driftAlertedAt"`;

/** The server's check states, locked for the run that is about to change them. */
export async function lockBaselineStates(tx: Tx, serverId: number): Promise<BaselineStateRow[]> {
  return tx<BaselineStateRow[]>`
    select ${stateColumns(tx)} from baseline_state where server_id = ${serverId} order by check_id for update`;
}

export async function saveBaselineState(tx: Tx, row: BaselineStateRow): Promise<void> {
  await tx`
    insert into baseline_state (server_id, check_id, title, level, status, since, last_result, last_evidence,
                                last_checked_at, last_run_id, last_passed_at, drifted_at, drift_alerted_at)
    values (${row.serverId}, ${row.checkId}, ${row.title}, ${row.level}, ${row.status}, ${row.since},
            ${row.lastResult}, ${row.lastEvidence}, ${row.lastCheckedAt}, ${row.lastRunId}, ${row.lastPassedAt},
            ${row.driftedAt}, ${row.driftAlertedAt})
    on conflict (server_id, check_id) do update set
      title = excluded.title, level = excluded.level, status = excluded.status, since = excluded.since,
      last_result = excluded.last_result, last_evidence = excluded.last_evidence,
      last_checked_at = excluded.last_checked_at, last_run_id = excluded.last_run_id,
      last_passed_at = excluded.last_passed_at, drifted_at = excluded.drifted_at,
      drift_alerted_at = excluded.drift_alerted_at`;
}

export interface BaselineStateWithServer extends BaselineStateRow {
  serverName: string;
  projectId: number | null;
}

/** Check states of the given servers (or of every server of the given projects). */
export async function listBaselineStates(
  sql: Queryable,
  filter: { serverIds?: readonly number[]; projectIds?: readonly number[] | null },
): Promise<BaselineStateWithServer[]> {
  return sql<BaselineStateWithServer[]>`
    select ${stateColumns(sql)}, s.name as "serverName", s.project_id as "projectId"
    from baseline_state b join servers s on s.id = b.server_id
    where true
    ${filter.serverIds ? sql`and b.server_id = any(${filter.serverIds as number[]})` : sql``}
    ${filter.projectIds ? sql`and s.project_id = any(${filter.projectIds as number[]})` : sql``}
    order by s.name, b.check_id`;
}

export interface BaselineRunRow {
  id: number;
  serverId: number;
  baseline: string;
  triggeredBy: string;
  startedAt: Date;
  status: 'succeeded' | 'failed';
  error: string | null;
  passed: number;
  failed: number;
  errored: number;
}

export async function lastBaselineRun(sql: Queryable, serverId: number): Promise<BaselineRunRow | undefined> {
  const [row] = await sql<BaselineRunRow[]>`
    select id, server_id as "serverId", baseline, triggered_by as "triggeredBy", started_at as "startedAt", status,
           error, passed, failed, errored
    from baseline_runs where server_id = ${serverId} order by started_at desc, id desc limit 1`;
  return row;
}

/**
 * Servers whose last good scan is newer than their last baseline run (or that never had one):
 * the baseline runs "with scans", one run per successful scan. Windows servers and projects that
 * turned baselines off (settings.compliance.baseline.enabled = false) are left out.
 */
export async function serversDueForBaseline(sql: Queryable, limit: number): Promise<number[]> {
  const rows = await sql<{ id: number }[]>`
    select st.server_id as id
    from server_scan_state st
    join servers s on s.id = st.server_id
    left join projects p on p.id = s.project_id
    left join lateral (
      select started_at from baseline_runs r where r.server_id = st.server_id order by started_at desc limit 1
    ) last on true
    where st.last_good_scan_at is not null and (last.started_at is null or last.started_at < st.last_good_scan_at)
      and coalesce(st.os ->> 'family', s.os ->> 'family', '') <> 'windows'
      and coalesce(p.settings -> 'compliance' -> 'baseline' ->> 'enabled', 'true') <> 'false'
    order by st.last_good_scan_at
    limit ${limit}`;
  return rows.map((r) => r.id);
}

// ---------------------------------------------------------------- remediations

export type RemediationStatus =
  | 'awaiting-approval'
  | 'approved'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'denied'
  | 'expired'
  | 'cancelled';

export interface RemediationRow {
  id: number;
  serverId: number;
  projectId: number | null;
  baseline: string;
  checkId: string;
  argv: string[];
  risk: 'low' | 'medium' | 'high';
  status: RemediationStatus;
  approvalId: number | null;
  requestedBy: number | null;
  requestedRef: string;
  createdAt: Date;
  exitCode: number | null;
  output: string | null;
  error: string | null;
}

const remediationColumns = (sql: Queryable) => sql`
  id, server_id as "serverId", project_id as "projectId", baseline, check_id as "checkId", argv, risk, status,
  approval_id as "approvalId", requested_by as "requestedBy", requested_ref as "requestedRef",
  created_at as "createdAt", exit_code as "exitCode", output, error`;

export async function insertRemediation(
  tx: Tx,
  input: Pick<
    RemediationRow,
    | 'serverId'
    | 'projectId'
    | 'baseline'
    | 'checkId'
    | 'argv'
    | 'risk'
    | 'requestedBy'
    | 'requestedRef'
    | 'createdAt'
  >,
): Promise<RemediationRow> {
  const [row] = await tx<RemediationRow[]>`
    insert into baseline_remediations (server_id, project_id, baseline, check_id, argv, risk, status, requested_by,
                                       requested_ref, created_at)
    values (${input.serverId}, ${input.projectId}, ${input.baseline}, ${input.checkId}, ${input.argv as string[]},
            ${input.risk}, 'awaiting-approval', ${input.requestedBy}, ${input.requestedRef}, ${input.createdAt})
    returning ${remediationColumns(tx)}`;
  return row!;
}

export async function setRemediationApproval(tx: Tx, id: number, approvalId: number): Promise<void> {
  await tx`update baseline_remediations set approval_id = ${approvalId} where id = ${id}`;
}

export async function getRemediation(sql: Queryable, id: number): Promise<RemediationRow | undefined> {
  const [row] = await sql<
    RemediationRow[]
  >`select ${remediationColumns(sql)} from baseline_remediations where id = ${id}`;
  return row;
}

export async function lockRemediation(tx: Tx, id: number): Promise<RemediationRow | undefined> {
  const [row] = await tx<RemediationRow[]>`
    select ${remediationColumns(tx)} from baseline_remediations where id = ${id} for update`;
  return row;
}

/** Move a remediation on; false when it was not in one of `from` (someone else moved it first). */
export async function setRemediationStatus(
  tx: Queryable,
  id: number,
  input: {
    from: readonly RemediationStatus[];
    to: RemediationStatus;
    at: Date;
    exitCode?: number | null;
    output?: string | null;
    error?: string | null;
  },
): Promise<boolean> {
  const decided = ['approved', 'denied', 'expired', 'cancelled'].includes(input.to);
  const finished = ['succeeded', 'failed'].includes(input.to);
  const rows = await tx`
    update baseline_remediations set status = ${input.to},
      decided_at = case when ${decided} then ${input.at} else decided_at end,
      started_at = case when ${input.to === 'running'} then ${input.at} else started_at end,
      finished_at = case when ${finished} then ${input.at} else finished_at end,
      exit_code = coalesce(${input.exitCode ?? null}, exit_code),
      output = coalesce(${input.output ?? null}, output),
      error = coalesce(${input.error ?? null}, error)
    where id = ${id} and status = any(${input.from as string[]})
    returning id`;
  return rows.length === 1;
}
