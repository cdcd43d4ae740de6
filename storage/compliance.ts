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

/** Per project: the key-rotation interval (ms, for due dates in SQL) and a hash of its standards. */
export interface ProjectPolicies {
  byProject: ReadonlyMap<number, { rotateMs: number; standardsHash: string }>;
  fallback: { rotateMs: number; standardsHash: string };
}

/** Rotation due dates of the live rotating keys installed on each server: first, next to come, and how many are past. */
function keysDue(
  sql: Queryable,
  policies: ProjectPolicies,
  now: Date,
  projectId?: number,
): postgres.Fragment {
  const rows = [...policies.byProject].map(([project_id, p]) => ({
    project_id,
    ms: p.rotateMs,
    hash: p.standardsHash,
  }));
  return sql`
    std as (select * from jsonb_to_recordset(${sql.json(rows as never)}) as r(project_id bigint, ms bigint, hash text)),
    kd as (
      select x.server_id, min(x.due_at) as due_at, min(x.due_at) filter (where x.due_at >= ${now}::timestamptz) as next_due,
             (count(*) filter (where x.due_at < ${now}::timestamptz))::int as overdue
      from (
        select ki.server_id,
               k.created_at + coalesce(k.rotate_every_ms, r.ms, ${policies.fallback.rotateMs}::bigint)
                 * interval '1 millisecond' as due_at
        from key_installations ki
        join keys k on k.id = ki.key_id and k.retired_at is null and (k.kind = 'service' or k.rotate_every_ms is not null)
        join servers s2 on s2.id = ki.server_id
        left join std r on r.project_id = s2.project_id
        where ki.removed_at is null ${projectId !== undefined ? sql`and s2.project_id = ${projectId}` : sql``}
      ) x
      group by x.server_id)`;
}

/** What the last evaluation stored about a server. */
export interface StoredReason {
  code: string;
  since: string;
  count?: number;
  items?: string[];
}

export interface StoredComplianceState {
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
  prev: StoredComplianceState | null;
}

interface FactsRow extends Omit<ServerComplianceFacts, 'prev'> {
  prevState: ComplianceState | null;
  prevSince: Date | null;
  prevReasons: StoredReason[] | null;
  prevOpenSecurity: number | null;
  prevLastGoodScanId: number | null;
}

export interface FactsInput {
  now: Date;
  policies: ProjectPolicies;
  projectId?: number;
}

/**
 * The main evaluation query. Only servers that need a look come back: never evaluated, a fact
 * changed since the stored snapshot (scan, update, keys, audit, baseline, project, standards),
 * or a threshold may have been crossed with time (next_check_at passed).
 */
function factsQuery(sql: Queryable, input: FactsInput, prefix: postgres.Fragment) {
  return sql<FactsRow[]>`
    ${prefix}
    with ${keysDue(sql, input.policies, input.now, input.projectId)},
    f as (
      select s.id, s.name, s.project_id, s.created_at, st.last_good_scan_at, st.last_good_scan_id,
             st.open_total, st.open_security,
             least(st.oldest_open_security_first_seen_at, st.oldest_open_critical_first_seen_at) as oldest_urgent,
             ${lastUpdateAt(sql)} as last_update_at, kd.due_at, kd.next_due, coalesce(kd.overdue, 0) as overdue,
             ka.unknown_keys, ka.audited_at, b.failing_checks, b.checked_at,
             coalesce(std.hash, ${input.policies.fallback.standardsHash}) as standards_hash
      from servers s
      left join server_scan_state st on st.server_id = s.id
      left join server_update_state u on u.server_id = s.id
      left join kd on kd.server_id = s.id
      left join server_key_audit ka on ka.server_id = s.id
      left join server_baseline_state b on b.server_id = s.id
      left join std on std.project_id = s.project_id
      ${input.projectId !== undefined ? sql`where s.project_id = ${input.projectId}` : sql``}
    )
    select f.id as "serverId", f.name as "serverName", f.project_id as "projectId", f.created_at as "createdAt",
      f.last_good_scan_at as "lastGoodScanAt", f.last_good_scan_id as "lastGoodScanId",
      coalesce(f.open_total, 0) as "openTotal", coalesce(f.open_security, 0) as "openSecurity",
      f.oldest_urgent as "oldestUrgentAt", f.last_update_at as "lastUpdateAt",
      f.due_at as "keyDueAt", f.next_due as "keyNextDueAt", f.overdue as "keysOverdue",
      f.unknown_keys as "unknownKeys", f.audited_at as "keyAuditAt",
      f.failing_checks as "baselineFailing", f.checked_at as "baselineCheckedAt",
      cs.state as "prevState", cs.since as "prevSince", cs.reasons as "prevReasons",
      cs.open_security as "prevOpenSecurity", cs.last_good_scan_id as "prevLastGoodScanId"
    from f
    left join server_compliance_state cs on cs.server_id = f.id
    where cs.server_id is null
       or cs.next_check_at <= ${input.now}::timestamptz
       or cs.project_id is distinct from f.project_id
       or cs.last_good_scan_id is distinct from f.last_good_scan_id
       or cs.seen_update_at is distinct from f.last_update_at
       or cs.seen_key_due_at is distinct from f.due_at
       or cs.seen_key_next_due_at is distinct from f.next_due
       or cs.seen_keys_overdue <> f.overdue
       or cs.seen_key_audit_at is distinct from f.audited_at
       or cs.seen_baseline_at is distinct from f.checked_at
       or cs.standards_hash <> f.standards_hash`;
}

/** The servers to evaluate now, of one project or the whole fleet (see factsQuery). */
export async function listComplianceFacts(
  sql: Queryable,
  input: FactsInput,
): Promise<ServerComplianceFacts[]> {
  const rows = await factsQuery(sql, input, sql``);
  return rows.map(({ prevState, prevSince, prevReasons, prevOpenSecurity, prevLastGoodScanId, ...f }) => ({
    ...f,
    prev:
      prevState === null
        ? null
        : {
            state: prevState,
            since: prevSince!,
            reasons: prevReasons ?? [],
            openSecurity: prevOpenSecurity ?? 0,
            lastGoodScanId: prevLastGoodScanId,
          },
  }));
}

/** The plan of the main evaluation query, executed (for bench/compliance). */
export async function explainComplianceFacts(sql: Queryable, input: FactsInput): Promise<string[]> {
  const rows = (await factsQuery(sql, input, sql`explain (analyze, buffers)`)) as unknown as Record<
    string,
    string
  >[];
  return rows.map((r) => r['QUERY PLAN'] ?? '');
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
  seen: {
    updateAt: Date | null;
    keyDueAt: Date | null;
    keyNextDueAt: Date | null;
    keysOverdue: number;
    keyAuditAt: Date | null;
    baselineAt: Date | null;
  };
  standardsHash: string;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

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
    next_check_at: iso(r.nextCheckAt),
    seen_update_at: iso(r.seen.updateAt),
    seen_key_due_at: iso(r.seen.keyDueAt),
    seen_key_next_due_at: iso(r.seen.keyNextDueAt),
    seen_keys_overdue: r.seen.keysOverdue,
    seen_key_audit_at: iso(r.seen.keyAuditAt),
    seen_baseline_at: iso(r.seen.baselineAt),
    standards_hash: r.standardsHash,
  }));
  await sql`
    insert into server_compliance_state as c (server_id, project_id, state, since, reasons, reason_codes, open_security,
      last_good_scan_id, next_check_at, seen_update_at, seen_key_due_at, seen_key_next_due_at, seen_keys_overdue,
      seen_key_audit_at, seen_baseline_at, standards_hash, updated_at)
    select r.server_id, r.project_id, r.state, r.since, r.reasons,
           array(select e ->> 'code' from jsonb_array_elements(r.reasons) e), r.open_security, r.last_good_scan_id,
           r.next_check_at, r.seen_update_at, r.seen_key_due_at, r.seen_key_next_due_at, r.seen_keys_overdue,
           r.seen_key_audit_at, r.seen_baseline_at, r.standards_hash, ${at}::timestamptz
    from jsonb_to_recordset(${sql.json(json as never)}) as r(server_id bigint, project_id bigint, state text,
         since timestamptz, reasons jsonb, open_security integer, last_good_scan_id bigint, next_check_at timestamptz,
         seen_update_at timestamptz, seen_key_due_at timestamptz, seen_key_next_due_at timestamptz,
         seen_keys_overdue integer, seen_key_audit_at timestamptz, seen_baseline_at timestamptz, standards_hash text)
    on conflict (server_id) do update set
      project_id = excluded.project_id, state = excluded.state, since = excluded.since, reasons = excluded.reasons,
      reason_codes = excluded.reason_codes, open_security = excluded.open_security,
      last_good_scan_id = excluded.last_good_scan_id, next_check_at = excluded.next_check_at,
      seen_update_at = excluded.seen_update_at, seen_key_due_at = excluded.seen_key_due_at,
      seen_key_next_due_at = excluded.seen_key_next_due_at, seen_keys_overdue = excluded.seen_keys_overdue,
      seen_key_audit_at = excluded.seen_key_audit_at, seen_baseline_at = excluded.seen_baseline_at,
      standards_hash = excluded.standards_hash, updated_at = excluded.updated_at`;
}

// ---------------------------------------------------------------- alerts

export type AlertKind = 'security-new' | 'threshold' | 'baseline-drift';

export interface AlertWrite {
  projectId: number | null;
  serverId: number | null;
  kind: AlertKind;
  /** Unique for the episode: the same key never alerts twice. */
  key: string;
  data: Record<string, unknown>;
}

/** Records alerts; returns the keys that were new (the ones to send). */
export async function insertAlerts(
  sql: Queryable,
  rows: readonly AlertWrite[],
  at: Date,
): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const json = rows.map((r) => ({
    project_id: r.projectId,
    server_id: r.serverId,
    kind: r.kind,
    alert_key: r.key,
    data: r.data,
  }));
  const inserted = await sql<{ key: string }[]>`
    insert into compliance_alerts (project_id, server_id, kind, alert_key, data, alerted_at)
    select r.project_id, r.server_id, r.kind, r.alert_key, r.data, ${at}::timestamptz
    from jsonb_to_recordset(${sql.json(json as never)}) as r(project_id bigint, server_id bigint, kind text,
         alert_key text, data jsonb)
    on conflict (alert_key) do nothing
    returning alert_key as key`;
  return new Set(inserted.map((r) => r.key));
}

export interface AlertRecord {
  id: number;
  projectId: number | null;
  serverId: number | null;
  kind: AlertKind;
  key: string;
  data: Record<string, unknown>;
  alertedAt: Date;
}

export async function listAlerts(
  sql: Queryable,
  filter: { projectId?: number; since?: Date; limit: number },
): Promise<AlertRecord[]> {
  return sql<AlertRecord[]>`
    select id, project_id as "projectId", server_id as "serverId", kind, alert_key as key, data,
           alerted_at as "alertedAt"
    from compliance_alerts
    where true
    ${filter.projectId !== undefined ? sql`and project_id = ${filter.projectId}` : sql``}
    ${filter.since ? sql`and alerted_at >= ${filter.since}` : sql``}
    order by id desc limit ${filter.limit}`;
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
