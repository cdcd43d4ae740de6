import type postgres from 'postgres';
import type { Queryable, Tx } from './db.js';

/**
 * Compliance storage (migration 1700000000090_compliance.sql): the facts evaluation reads (one
 * row per server, joined from small summary rows), the evaluated state, and the alerts sent.
 * Digest and rollup reads live in storage/compliance-digest.ts.
 */
export type ComplianceState = 'compliant' | 'non-compliant' | 'unknown';

/** Planning overhead of JIT dwarfs these short queries (measured: +470 ms); only ever SET LOCAL. */
export async function compliancePlannerSettings(tx: Tx): Promise<void> {
  await tx`set local jit = off`;
}

// Any constant: it only has to differ from the other advisory locks Warden takes.
const EVALUATION_LOCK = 0x0c0a_0090;

/** Serialises evaluations across replicas until the transaction ends (alerts must fire once). */
export async function lockComplianceEvaluation(tx: Tx): Promise<void> {
  await tx`select pg_advisory_xact_lock(${EVALUATION_LOCK})`;
}

/**
 * The server's last successful update: the later of its last succeeded patch and the last time a
 * pending update disappeared. This is the one place that defines it (the triggers keep both).
 */
export function lastUpdateAt(sql: Queryable, alias = 'u'): postgres.Fragment {
  return sql`greatest(${sql(alias)}.last_patched_at, ${sql(alias)}.last_resolved_at)`;
}

/** Per project: the key-rotation interval (ms), for the due-date arithmetic in SQL. */
export interface RotationPolicies {
  byProject: ReadonlyMap<number, number>;
  defaultMs: number;
}

/** What the last evaluation stored about a server. */
export interface StoredReason {
  code: string;
  since: string;
  count?: number;
  items?: string[];
}

export interface StoredComplianceState {
  projectId: number | null;
  state: ComplianceState;
  since: Date;
  reasons: StoredReason[];
  openSecurity: number;
  lastGoodScanId: number | null;
}

/** Everything evaluation needs about one server, plus what the last evaluation stored. */
export interface ServerComplianceFacts {
  serverId: number;
  serverName: string;
  projectId: number | null;
  createdAt: Date;
  lastGoodScanAt: Date | null;
  lastGoodScanId: number | null;
  openTotal: number;
  openSecurity: number;
  /** First seen of the oldest open security or critical update. */
  oldestUrgentAt: Date | null;
  lastUpdateAt: Date | null;
  /** The earliest rotation due date among the server's rotating keys (past or not). */
  keyDueAt: Date | null;
  /** The earliest one still to come. */
  keyNextDueAt: Date | null;
  keysOverdue: number;
  unknownKeys: number | null;
  keyAuditAt: Date | null;
  baselineFailing: string[] | null;
  baselineCheckedAt: Date | null;
  /** The change mark this evaluation consumes (null: looked at because a threshold came due). */
  dirtySeq: number | null;
  prev: StoredComplianceState | null;
}

interface FactsRow extends Omit<ServerComplianceFacts, 'prev'> {
  prevState: ComplianceState | null;
  prevSince: Date | null;
  prevReasons: StoredReason[] | null;
  prevOpenSecurity: number | null;
  prevLastGoodScanId: number | null;
  prevProjectId: number | null;
}

export interface FactsInput {
  now: Date;
  rotation: RotationPolicies;
  /** Only this project's servers. */
  projectId?: number;
  /** Projects to look at whole (their standards changed); null stands for servers in no project. */
  wholeProjects?: readonly (number | null)[];
}

/**
 * The main evaluation query. It looks only at the servers that need it: marked in
 * compliance_dirty by a change of their facts (scan, update, keys, audit, baseline, project), or
 * whose next_check_at came due, or in a project whose standards changed.
 */
function factsQuery(sql: Queryable, input: FactsInput, prefix: postgres.Fragment) {
  const rot = [...input.rotation.byProject].map(([project_id, ms]) => ({ project_id, ms }));
  const whole = (input.wholeProjects ?? []).filter((id): id is number => id !== null);
  const wholeUnassigned = (input.wholeProjects ?? []).includes(null);
  const inProject = input.projectId !== undefined ? sql`and s.project_id = ${input.projectId}` : sql``;
  return sql<FactsRow[]>`
    ${prefix}
    with cand as (
      select server_id from compliance_dirty
      union select server_id from server_compliance_state where next_check_at <= ${input.now}::timestamptz
      ${whole.length > 0 ? sql`union select id from servers where project_id = any(${whole})` : sql``}
      ${wholeUnassigned ? sql`union select id from servers where project_id is null` : sql``}
    ),
    rot as (select * from jsonb_to_recordset(${sql.json(rot as never)}) as r(project_id bigint, ms bigint)),
    c as (
      select s.id, s.name, s.project_id, s.created_at, coalesce(r.ms, ${input.rotation.defaultMs}::bigint) as rotate_ms
      from cand join servers s on s.id = cand.server_id left join rot r on r.project_id = s.project_id
      where true ${inProject}
    )
    -- Usually a handful of servers: one index lookup per summary table each (LATERAL … OFFSET 0
    -- keeps the planner from hashing the whole of every table for them).
    select c.id as "serverId", c.name as "serverName", c.project_id as "projectId", c.created_at as "createdAt",
      st.last_good_scan_at as "lastGoodScanAt", st.last_good_scan_id as "lastGoodScanId",
      coalesce(st.open_total, 0) as "openTotal", coalesce(st.open_security, 0) as "openSecurity",
      least(st.oldest_open_security_first_seen_at, st.oldest_open_critical_first_seen_at) as "oldestUrgentAt",
      ${lastUpdateAt(sql)} as "lastUpdateAt",
      kd.due_at as "keyDueAt", kd.next_due as "keyNextDueAt", kd.overdue as "keysOverdue",
      ka.unknown_keys as "unknownKeys", ka.audited_at as "keyAuditAt",
      b.failing_checks as "baselineFailing", b.checked_at as "baselineCheckedAt",
      d.seq as "dirtySeq",
      cs.state as "prevState", cs.since as "prevSince", cs.reasons as "prevReasons",
      cs.open_security as "prevOpenSecurity", cs.last_good_scan_id as "prevLastGoodScanId",
      cs.project_id as "prevProjectId"
    from c
    left join lateral (select * from server_scan_state x where x.server_id = c.id offset 0) st on true
    left join lateral (select * from server_update_state x where x.server_id = c.id offset 0) u on true
    left join lateral (select * from server_key_audit x where x.server_id = c.id offset 0) ka on true
    left join lateral (select * from server_baseline_state x where x.server_id = c.id offset 0) b on true
    left join lateral (select * from compliance_dirty x where x.server_id = c.id offset 0) d on true
    left join lateral (select * from server_compliance_state x where x.server_id = c.id offset 0) cs on true
    cross join lateral (
      select min(x.due_at) as due_at, min(x.due_at) filter (where x.due_at >= ${input.now}::timestamptz) as next_due,
             (count(*) filter (where x.due_at < ${input.now}::timestamptz))::int as overdue
      from (
        select k.created_at + coalesce(k.rotate_every_ms, c.rotate_ms) * interval '1 millisecond' as due_at
        from key_installations ki
        join keys k on k.id = ki.key_id and k.retired_at is null and (k.kind = 'service' or k.rotate_every_ms is not null)
        where ki.server_id = c.id and ki.removed_at is null
      ) x
    ) kd`;
}

/** The servers to evaluate now, of one project or the whole fleet (see factsQuery). */
export async function listComplianceFacts(
  sql: Queryable,
  input: FactsInput,
): Promise<ServerComplianceFacts[]> {
  const rows = await factsQuery(sql, input, sql``);
  return rows.map(
    ({ prevState, prevSince, prevReasons, prevOpenSecurity, prevLastGoodScanId, prevProjectId, ...f }) => ({
      ...f,
      prev:
        prevState === null
          ? null
          : {
              projectId: prevProjectId,
              state: prevState,
              since: prevSince!,
              reasons: prevReasons ?? [],
              openSecurity: prevOpenSecurity ?? 0,
              lastGoodScanId: prevLastGoodScanId,
            },
    }),
  );
}

/** The plan of the main evaluation query, executed (for bench/compliance). */
export async function explainComplianceFacts(sql: Queryable, input: FactsInput): Promise<string[]> {
  const rows = (await factsQuery(sql, input, sql`explain (analyze, buffers)`)) as unknown as Record<
    string,
    string
  >[];
  return rows.map((r) => r['QUERY PLAN'] ?? '');
}

/**
 * Removes the change marks an evaluation consumed, after it committed and in a statement of its
 * own (so it never holds these rows while waiting on other locks): a mark that moved since is a
 * newer change and stays. Marks of deleted servers go too.
 */
export async function clearDirtyMarks(
  sql: Queryable,
  consumed: readonly { serverId: number; seq: number }[],
): Promise<void> {
  if (consumed.length === 0) return;
  const json = consumed.map((c) => ({ server_id: c.serverId, seq: c.seq }));
  await sql`
    delete from compliance_dirty d
    using jsonb_to_recordset(${sql.json(json as never)}) as r(server_id bigint, seq bigint)
    where d.server_id = r.server_id and d.seq = r.seq`;
}

/** Change marks left by servers that no longer exist. */
export async function clearOrphanDirtyMarks(sql: Queryable): Promise<void> {
  await sql`delete from compliance_dirty d where not exists (select 1 from servers s where s.id = d.server_id)`;
}

/** The standards hash each project was last evaluated against (key 0: servers in no project). */
export async function listStandardsSeen(sql: Queryable): Promise<Map<number, string>> {
  const rows = await sql<{ key: number; hash: string }[]>`
    select project_key as key, hash from compliance_standards_seen`;
  return new Map(rows.map((r) => [r.key, r.hash]));
}

export async function saveStandardsSeen(
  sql: Queryable,
  seen: readonly { key: number; hash: string }[],
): Promise<void> {
  if (seen.length === 0) return;
  const json = seen.map((s) => ({ project_key: s.key, hash: s.hash }));
  await sql`
    insert into compliance_standards_seen (project_key, hash)
    select r.project_key, r.hash from jsonb_to_recordset(${sql.json(json as never)}) as r(project_key bigint, hash text)
    on conflict (project_key) do update set hash = excluded.hash`;
}

export interface ComplianceStateWrite {
  serverId: number;
  projectId: number | null;
  state: ComplianceState;
  since: Date;
  reasons: StoredReason[];
  openSecurity: number;
  lastGoodScanId: number | null;
  nextCheckAt: Date | null;
}

/** Writes the evaluated rows, in one statement. */
export async function saveComplianceStates(
  sql: Queryable,
  rows: readonly ComplianceStateWrite[],
  at: Date,
): Promise<void> {
  if (rows.length === 0) return;
  const json = rows.map((r) => ({
    server_id: r.serverId,
    project_id: r.projectId,
    state: r.state,
    since: r.since.toISOString(),
    reasons: r.reasons,
    open_security: r.openSecurity,
    last_good_scan_id: r.lastGoodScanId,
    next_check_at: r.nextCheckAt ? r.nextCheckAt.toISOString() : null,
  }));
  await sql`
    insert into server_compliance_state as c (server_id, project_id, state, since, reasons, reason_codes, open_security,
      last_good_scan_id, next_check_at, updated_at)
    select r.server_id, r.project_id, r.state, r.since, r.reasons,
           array(select e ->> 'code' from jsonb_array_elements(r.reasons) e), r.open_security, r.last_good_scan_id,
           r.next_check_at, ${at}::timestamptz
    from jsonb_to_recordset(${sql.json(json as never)}) as r(server_id bigint, project_id bigint, state text,
         since timestamptz, reasons jsonb, open_security integer, last_good_scan_id bigint, next_check_at timestamptz)
    on conflict (server_id) do update set
      project_id = excluded.project_id, state = excluded.state, since = excluded.since, reasons = excluded.reasons,
      reason_codes = excluded.reason_codes, open_security = excluded.open_security,
      last_good_scan_id = excluded.last_good_scan_id, next_check_at = excluded.next_check_at,
      updated_at = excluded.updated_at`;
}

// ---------------------------------------------------------------- facts reported by other capabilities

/** The post-action audit read these servers: the authorized keys Warden does not know, per server. */
export async function saveKeyAudits(
  sql: Queryable,
  rows: readonly { serverId: number; unknownFingerprints: readonly string[] }[],
  at: Date,
): Promise<void> {
  if (rows.length === 0) return;
  const json = rows.map((r) => ({
    server_id: r.serverId,
    unknown_keys: r.unknownFingerprints.length,
    unknown_fingerprints: [...r.unknownFingerprints],
  }));
  await sql`
    insert into server_key_audit (server_id, audited_at, unknown_keys, unknown_fingerprints)
    select r.server_id, ${at}::timestamptz, r.unknown_keys,
           array(select jsonb_array_elements_text(r.unknown_fingerprints))
    from jsonb_to_recordset(${sql.json(json as never)}) as r(server_id bigint, unknown_keys integer,
         unknown_fingerprints jsonb)
    on conflict (server_id) do update set audited_at = excluded.audited_at, unknown_keys = excluded.unknown_keys,
      unknown_fingerprints = excluded.unknown_fingerprints`;
}

/** A configuration-baseline run on a server: which checks failed (ids). */
export async function saveBaselineState(
  sql: Queryable,
  input: { serverId: number; at: Date; checksTotal: number; failing: readonly string[] },
): Promise<void> {
  await sql`
    insert into server_baseline_state (server_id, checked_at, checks_total, failing_checks)
    values (${input.serverId}, ${input.at}, ${input.checksTotal}, ${[...input.failing]}::text[])
    on conflict (server_id) do update set checked_at = excluded.checked_at, checks_total = excluded.checks_total,
      failing_checks = excluded.failing_checks`;
}
