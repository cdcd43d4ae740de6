import type { Queryable } from './db.js';

/**
 * Patch runs (migration 1700000000081): the lease of the process running a plan, and each
 * server's state. Every state write is a compare-and-set on the state it leaves, so two processes
 * can never both move one server (the loser sees `false` and stops).
 */

export const RUN_SERVER_STATES = [
  'pending',
  'backing-up',
  'pre',
  'installing',
  'rebooting',
  'post',
  'checking',
  'confirming',
  'succeeded',
  'failed',
  'rolling-back',
  'rolled-back',
  'skipped-cutoff',
  'skipped-halted',
] as const;
export type RunServerState = (typeof RUN_SERVER_STATES)[number];

export const FINAL_STATES: readonly RunServerState[] = [
  'succeeded',
  'failed',
  'rolled-back',
  'skipped-cutoff',
  'skipped-halted',
];

export function isFinalState(state: RunServerState): boolean {
  return FINAL_STATES.includes(state);
}

export type RunOutcomeStatus = 'succeeded' | 'partially-failed' | 'failed' | 'rolled-back';

export interface RunStep {
  at: string;
  state: RunServerState;
  ok: boolean;
  detail?: string;
  ms?: number;
  /** Facts a later step (or a resumed process) needs, e.g. the boot id before a reboot. */
  data?: Record<string, unknown>;
}

export interface PreviousVersion {
  package: string;
  arch: string;
  /** '' when unknown (a cloud provider that does not say). */
  version: string;
}

export interface PreviousState {
  packages: PreviousVersion[];
  /** dnf/yum: the newest history id before the install, so the install's own transaction is undone. */
  historyBefore?: number;
  /** A snapshot taken before the install (cloud disks). */
  snapshotId?: string;
}

export interface RunRow {
  planId: number;
  owner: string | null;
  leaseUntil: Date | null;
  startedAt: Date;
  finishedAt: Date | null;
  haltedAt: Date | null;
  haltedReason: string | null;
  haltedBy: string | null;
  outcome: RunOutcomeStatus | null;
  progressSeq: number;
}

export interface RunServerRow {
  planId: number;
  serverId: number;
  serverName: string;
  ring: number;
  position: number;
  state: RunServerState;
  attempt: number;
  previousVersions: PreviousState | null;
  steps: RunStep[];
  error: string | null;
  startedAt: Date | null;
  finishedAt: Date | null;
}

const runColumns = (sql: Queryable) => sql`
  plan_id as "planId", owner, lease_until as "leaseUntil", started_at as "startedAt",
  finished_at as "finishedAt", halted_at as "haltedAt", halted_reason as "haltedReason",
  halted_by as "haltedBy", outcome, progress_seq as "progressSeq"`;

const serverColumns = (sql: Queryable) => sql`
  r.plan_id as "planId", r.server_id as "serverId", s.name as "serverName", r.ring, r.position, r.state,
  r.attempt, r.previous_versions as "previousVersions", r.steps, r.error, r.started_at as "startedAt",
  r.finished_at as "finishedAt"`;

/** Creates the run row once; a second call (a resumed run) leaves the first as it was. */
export async function ensureRun(sql: Queryable, planId: number, at: Date): Promise<void> {
  await sql`insert into patch_runs (plan_id, started_at) values (${planId}, ${at}) on conflict (plan_id) do nothing`;
}

/** Adds the servers of the plan, pending; rows already there (resume) are kept as they are. */
export async function ensureRunServers(
  sql: Queryable,
  planId: number,
  servers: readonly { serverId: number; ring: number; position: number }[],
): Promise<void> {
  if (servers.length === 0) return;
  await sql`
    insert into patch_run_servers (plan_id, server_id, ring, position)
    select ${planId}, x.server_id, x.ring, x.position
    from unnest(${servers.map((s) => s.serverId)}::bigint[], ${servers.map((s) => s.ring)}::int[],
                ${servers.map((s) => s.position)}::int[]) as x(server_id, ring, position)
    on conflict (plan_id, server_id) do nothing`;
}

export async function getRun(sql: Queryable, planId: number): Promise<RunRow | undefined> {
  const [row] = await sql<RunRow[]>`select ${runColumns(sql)} from patch_runs where plan_id = ${planId}`;
  return row;
}

/**
 * Takes the run for `owner` until `until` when nobody holds it, its lease has run out, or `owner`
 * already holds it. `force` ignores a live lease (embedded start-up: no other process exists).
 */
export async function claimRunLease(
  sql: Queryable,
  input: { planId: number; owner: string; now: Date; until: Date; force?: boolean },
): Promise<boolean> {
  const rows = await sql`
    update patch_runs set owner = ${input.owner}, lease_until = ${input.until}
    where plan_id = ${input.planId} and finished_at is null
      and (${input.force ?? false} or owner is null or owner = ${input.owner} or lease_until < ${input.now})
    returning plan_id`;
  return rows.length === 1;
}

/** Renews the lease; false when another process took the run over (this one must stop). */
export async function renewRunLease(
  sql: Queryable,
  input: { planId: number; owner: string; until: Date },
): Promise<boolean> {
  const rows = await sql`
    update patch_runs set lease_until = ${input.until}
    where plan_id = ${input.planId} and owner = ${input.owner} and finished_at is null
    returning plan_id`;
  return rows.length === 1;
}

/** Records a halt once; false when the run was already halted or is over. */
export async function haltRun(
  sql: Queryable,
  input: { planId: number; reason: string; by: string; at: Date },
): Promise<boolean> {
  const rows = await sql`
    update patch_runs set halted_at = ${input.at}, halted_reason = ${input.reason}, halted_by = ${input.by}
    where plan_id = ${input.planId} and halted_at is null and finished_at is null
    returning plan_id`;
  return rows.length === 1;
}

export async function finishRun(
  sql: Queryable,
  input: { planId: number; outcome: RunOutcomeStatus; at: Date },
): Promise<boolean> {
  const rows = await sql`
    update patch_runs set finished_at = ${input.at}, outcome = ${input.outcome}, owner = null, lease_until = null
    where plan_id = ${input.planId} and finished_at is null
    returning plan_id`;
  return rows.length === 1;
}

export async function nextProgressSeq(sql: Queryable, planId: number): Promise<number> {
  const [row] = await sql<{ seq: number }[]>`
    update patch_runs set progress_seq = progress_seq + 1 where plan_id = ${planId} returning progress_seq as seq`;
  return row?.seq ?? 0;
}

export async function listRunServers(sql: Queryable, planId: number): Promise<RunServerRow[]> {
  return sql<RunServerRow[]>`
    select ${serverColumns(sql)} from patch_run_servers r join servers s on s.id = r.server_id
    where r.plan_id = ${planId}
    order by r.ring, r.position, s.name, r.server_id`;
}

export interface StateChange {
  planId: number;
  serverId: number;
  /** The process holding the run's lease: a process that lost it can no longer write (fencing). */
  owner: string;
  from: RunServerState;
  to: RunServerState;
  at: Date;
  /** Appended to the log. */
  steps?: readonly RunStep[];
  error?: string | null;
  previousVersions?: PreviousState;
  /** Count a new attempt (a server started again after a crash). */
  newAttempt?: boolean;
}

// The steps log is capped so a server retried many times cannot grow its row without bound.
const MAX_STEPS = 60;

/**
 * Moves one server from `from` to `to`; false when it was not in `from` any more, or when `owner`
 * no longer holds the run (another process took it over): the caller must then leave it alone.
 */
export async function changeServerState(sql: Queryable, change: StateChange): Promise<boolean> {
  const final = isFinalState(change.to);
  const steps = change.steps ?? [];
  const rows = await sql`
    update patch_run_servers set
      state = ${change.to},
      attempt = attempt + ${change.newAttempt ? 1 : 0},
      started_at = coalesce(started_at, ${change.from === 'pending' && !final ? change.at : null}),
      finished_at = ${final ? change.at : null},
      error = ${change.error === undefined ? sql`error` : change.error},
      previous_versions = ${change.previousVersions ? sql.json(change.previousVersions as never) : sql`previous_versions`},
      steps = (select coalesce(jsonb_agg(t.e order by t.i), '[]'::jsonb)
               from jsonb_array_elements(steps) with ordinality as t(e, i)
               where t.i > jsonb_array_length(steps) - ${MAX_STEPS - steps.length}) || ${sql.json(steps as never)}::jsonb
    where plan_id = ${change.planId} and server_id = ${change.serverId} and state = ${change.from}
      and exists (select 1 from patch_runs p where p.plan_id = ${change.planId} and p.owner = ${change.owner})
    returning server_id`;
  return rows.length === 1;
}

/** Every server of the plan still in `from` goes to `to` (cutoff, halt); returns the names moved. */
export async function skipServers(
  sql: Queryable,
  input: {
    planId: number;
    owner: string;
    serverIds: readonly number[];
    to: 'skipped-cutoff' | 'skipped-halted';
    reason: string;
    at: Date;
  },
): Promise<string[]> {
  if (input.serverIds.length === 0) return [];
  const step = [{ at: input.at.toISOString(), state: input.to, ok: false, detail: input.reason }];
  const rows = await sql<{ name: string }[]>`
    update patch_run_servers r set state = ${input.to}, finished_at = ${input.at}, error = ${input.reason},
      steps = r.steps || ${sql.json(step as never)}::jsonb
    from servers s
    where s.id = r.server_id and r.plan_id = ${input.planId} and r.state = 'pending'
      and r.server_id = any(${input.serverIds as number[]}::bigint[])
      and exists (select 1 from patch_runs p where p.plan_id = ${input.planId} and p.owner = ${input.owner})
    returning s.name`;
  return rows.map((r) => r.name).sort();
}

/** Plans running with no live lease: their process died (or `force`: every running plan). */
export async function listInterruptedRuns(
  sql: Queryable,
  input: { now: Date; force?: boolean },
): Promise<number[]> {
  const rows = await sql<{ id: number }[]>`
    select p.id from patch_plans p left join patch_runs r on r.plan_id = p.id
    where p.status = 'running' and (r.plan_id is null or (r.finished_at is null
      and (${input.force ?? false} or r.owner is null or r.lease_until < ${input.now})))
    order by p.id`;
  return rows.map((r) => r.id);
}

/** Outbox rows for messages that are not worth an audit event each (throttled progress). */
export async function insertProgressOutbox(
  sql: Queryable,
  rows: readonly {
    channel: string;
    kind: string;
    payload: Record<string, unknown>;
    idempotencyKey: string;
    orderingKey: string | null;
  }[],
  at: Date,
): Promise<void> {
  for (const r of rows) {
    await sql`
      insert into outbox (channel, kind, payload, idempotency_key, ordering_key, next_attempt_at, created_at)
      values (${r.channel}, ${r.kind}, ${sql.json(r.payload as never)}, ${r.idempotencyKey}, ${r.orderingKey}, ${at}, ${at})
      on conflict (idempotency_key) do nothing`;
  }
}
