import type { StoredReason } from './compliance.js';
import type { Queryable } from './db.js';

/**
 * What the downloadable reports and the dashboard read. `projectIds` null means every server
 * (the caller holds the permission globally); otherwise only servers of those projects.
 */
type Scope = readonly number[] | null;

/** `column = any(ids)`, or true for a global scope; column is a fixed identifier such as `s.project_id`. */
const inScope = (sql: Queryable, column: string, ids: Scope) =>
  ids === null ? sql`true` : sql`${sql(column)} = any(${ids as number[]})`;

export interface ComplianceRow {
  serverId: number;
  server: string;
  project: string | null;
  projectId: number | null;
  account: string | null;
  provider: string;
  region: string | null;
  owner: string | null;
  state: 'compliant' | 'non-compliant' | 'unknown' | null;
  since: Date | null;
  reasons: StoredReason[];
  openSecurity: number;
  openCritical: number;
  oldestSecurityAt: Date | null;
  lastGoodScanAt: Date | null;
  lastScanAt: Date | null;
  baselineFailing: string[] | null;
}

/** Every server in scope with its evaluated compliance state (worst first). */
export async function listComplianceRows(sql: Queryable, projectIds: Scope): Promise<ComplianceRow[]> {
  return sql<ComplianceRow[]>`
    select s.id as "serverId", s.name as server, p.slug as project, s.project_id as "projectId", a.name as account,
           s.provider, nullif(s.tags ->> 'region', '') as region, o.handle as owner,
           cs.state, cs.since, coalesce(cs.reasons, '[]'::jsonb) as reasons,
           coalesce(st.open_security, 0) as "openSecurity", coalesce(st.open_critical, 0) as "openCritical",
           st.oldest_open_security_first_seen_at as "oldestSecurityAt", st.last_good_scan_at as "lastGoodScanAt",
           st.last_scan_at as "lastScanAt", bs.failing_checks as "baselineFailing"
    from servers s
    left join projects p on p.id = s.project_id
    left join accounts a on a.id = s.account_id
    left join users o on o.id = s.owner_id
    left join server_compliance_state cs on cs.server_id = s.id
    left join server_scan_state st on st.server_id = s.id
    left join server_baseline_state bs on bs.server_id = s.id
    where ${inScope(sql, 's.project_id', projectIds)}
    order by case cs.state when 'non-compliant' then 0 when 'unknown' then 1 when 'compliant' then 2 else 3 end,
             s.name`;
}

export interface UserActivityRow {
  handle: string;
  displayName: string;
  requested: number;
  approved: number;
  denied: number;
  granted: number;
  used: number;
  decisionsGiven: number;
  approvalsGiven: number;
  meanDecisionSeconds: number | null;
  medianDecisionSeconds: number | null;
}

/**
 * Per user over [since, until): access requested, approved, denied; grants made and used (the
 * grant's key was seen in use while it ran); approval decisions given and how fast (from the
 * request being opened to the decision).
 */
export async function listUserActivity(
  sql: Queryable,
  input: { projectIds: Scope; since: Date; until: Date },
): Promise<UserActivityRow[]> {
  const { since, until, projectIds } = input;
  return sql<UserActivityRow[]>`
    with req as (
      select requester_id as user_id, count(*)::int as requested,
             (count(*) filter (where status = 'approved'))::int as approved,
             (count(*) filter (where status = 'denied'))::int as denied
      from access_requests
      where created_at >= ${since} and created_at < ${until} and ${inScope(sql, 'project_id', projectIds)}
      group by requester_id
    ), gr as (
      select g.requester_id as user_id, count(*)::int as granted,
             (count(*) filter (where k.last_used_at >= g.starts_at
                               and k.last_used_at <= coalesce(g.ended_at, g.expires_at)))::int as used
      from grants g left join keys k on k.fingerprint = g.key_fingerprint
      where g.created_at >= ${since} and g.created_at < ${until} and ${inScope(sql, 'g.project_id', projectIds)}
      group by g.requester_id
    ), ap as (
      select d.approver_id as user_id, count(*)::int as given,
             (count(*) filter (where d.decision = 'approve'))::int as approvals,
             avg(extract(epoch from d.decided_at - r.created_at))::float8 as mean_s,
             percentile_cont(0.5) within group (order by extract(epoch from d.decided_at - r.created_at))::float8 as median_s
      from approval_decisions d join approval_requests r on r.id = d.request_id
      where d.decided_at >= ${since} and d.decided_at < ${until} and ${inScope(sql, 'r.project_id', projectIds)}
      group by d.approver_id
    )
    select u.handle, u.display_name as "displayName",
           coalesce(req.requested, 0) as requested, coalesce(req.approved, 0) as approved,
           coalesce(req.denied, 0) as denied, coalesce(gr.granted, 0) as granted, coalesce(gr.used, 0) as used,
           coalesce(ap.given, 0) as "decisionsGiven", coalesce(ap.approvals, 0) as "approvalsGiven",
           ap.mean_s as "meanDecisionSeconds", ap.median_s as "medianDecisionSeconds"
    from users u
    left join req on req.user_id = u.id
    left join gr on gr.user_id = u.id
    left join ap on ap.user_id = u.id
    where req.user_id is not null or gr.user_id is not null or ap.user_id is not null
    order by u.handle`;
}

export interface VendorRow {
  package: string;
  source: string;
  findings: number;
  servers: number;
  security: number;
  critical: number;
  patched: number;
  stillOpen: number;
  meanDaysToPatch: number | null;
}

/**
 * Per package and source (repository, vendor): pending updates seen in the period (open now, or
 * resolved in it), how many were patched, and how long patching took.
 */
export async function listVendorActivity(
  sql: Queryable,
  input: { projectIds: Scope; since: Date; until: Date; limit: number },
): Promise<VendorRow[]> {
  const { since, until, projectIds } = input;
  return sql<VendorRow[]>`
    with f as (
      select o.package, coalesce(o.source, '') as source, o.classification, o.severity, o.first_seen_at,
             null::timestamptz as resolved_at, o.server_id
      from findings_open o join servers s on s.id = o.server_id
      where o.first_seen_at < ${until} and ${inScope(sql, 's.project_id', projectIds)}
      union all
      select r.package, coalesce(r.source, ''), r.classification, r.severity, r.first_seen_at, r.resolved_at, r.server_id
      from findings_resolved r join servers s on s.id = r.server_id
      where r.resolved_at >= ${since} and r.resolved_at < ${until} and ${inScope(sql, 's.project_id', projectIds)}
    )
    select package, source, count(*)::int as findings, count(distinct server_id)::int as servers,
           (count(*) filter (where classification = 'security'))::int as security,
           (count(*) filter (where severity = 'critical'))::int as critical,
           (count(*) filter (where resolved_at is not null))::int as patched,
           (count(*) filter (where resolved_at is null))::int as "stillOpen",
           (avg(extract(epoch from resolved_at - first_seen_at)) filter (where resolved_at is not null) / 86400)::float8
             as "meanDaysToPatch"
    from f group by package, source
    order by count(*) desc, package, source
    limit ${input.limit}`;
}

/** Per package: items of patch runs whose server failed or was rolled back in the period. */
export async function listPatchFailures(
  sql: Queryable,
  input: { projectIds: Scope; since: Date; until: Date },
): Promise<Map<string, number>> {
  const rows = await sql<{ package: string; failures: number }[]>`
    select i.package, count(*)::int as failures
    from patch_run_servers r
    join patch_plan_items i on i.plan_id = r.plan_id and i.server_id = r.server_id and not i.excluded
    join patch_plans p on p.id = r.plan_id
    where r.state in ('failed', 'rolled-back') and r.finished_at >= ${input.since} and r.finished_at < ${input.until}
      and ${inScope(sql, 'p.project_id', input.projectIds)}
    group by i.package`;
  return new Map(rows.map((r) => [r.package, r.failures]));
}

export interface DailyTrendRow {
  day: string;
  servers: number;
  compliant: number;
  unknown: number;
  pendingSecurity: number;
  securityResolved: number;
  /** Weighted by the security updates resolved per project that day. */
  mttpSeconds: number | null;
}

/** compliance_daily summed over the projects in scope, per day. */
export async function listDailyTrend(
  sql: Queryable,
  input: { projectIds: Scope; fromDay: string; toDay: string },
): Promise<DailyTrendRow[]> {
  return sql<DailyTrendRow[]>`
    select to_char(day, 'YYYY-MM-DD') as day, sum(servers)::int as servers, sum(compliant)::int as compliant,
           sum(unknown)::int as unknown, sum(pending_security)::int as "pendingSecurity",
           sum(security_resolved)::int as "securityResolved",
           (sum(mttp_seconds * security_resolved) filter (where mttp_seconds is not null)
             / nullif(sum(security_resolved) filter (where mttp_seconds is not null), 0))::float8 as "mttpSeconds"
    from compliance_daily
    where day >= ${input.fromDay}::date and day <= ${input.toDay}::date
      and ${inScope(sql, 'project_id', input.projectIds)}
    group by day order by day`;
}

/** Mean time from first seen to resolved of critical updates, per UTC day they were resolved. */
export async function listCriticalRemediation(
  sql: Queryable,
  input: { projectIds: Scope; since: Date; until: Date },
): Promise<Map<string, { count: number; meanSeconds: number }>> {
  const rows = await sql<{ day: string; count: number; meanSeconds: number }[]>`
    select to_char((r.resolved_at at time zone 'UTC')::date, 'YYYY-MM-DD') as day, count(*)::int as count,
           avg(extract(epoch from r.resolved_at - r.first_seen_at))::float8 as "meanSeconds"
    from findings_resolved r join servers s on s.id = r.server_id
    where r.severity = 'critical' and r.resolved_at >= ${input.since} and r.resolved_at < ${input.until}
      and ${inScope(sql, 's.project_id', input.projectIds)}
    group by 1 order by 1`;
  return new Map(rows.map((r) => [r.day, { count: r.count, meanSeconds: r.meanSeconds }]));
}

// ---------------------------------------------------------------- scheduled e-mails

export interface ReportProjectRow {
  id: number;
  slug: string;
  name: string;
  settings: Record<string, unknown>;
}

/** Projects that name report recipients (settings.reports.recipients non-empty). */
export async function listProjectsWithReportRecipients(sql: Queryable): Promise<ReportProjectRow[]> {
  return sql<ReportProjectRow[]>`
    select id, slug, name, settings from projects
    where jsonb_typeof(settings -> 'reports' -> 'recipients') = 'array'
      and jsonb_array_length(settings -> 'reports' -> 'recipients') > 0
    order by slug`;
}

/** Claims one slot of a project's report schedule; false when it was already claimed. */
export async function claimReportSlot(
  sql: Queryable,
  input: { projectId: number; slot: Date; recipients: readonly string[]; at: Date },
): Promise<boolean> {
  const rows = await sql`
    insert into report_deliveries (project_id, slot, recipients, queued_at)
    values (${input.projectId}, ${input.slot}, ${input.recipients as string[]}, ${input.at})
    on conflict do nothing returning project_id`;
  return rows.length === 1;
}

// ---------------------------------------------------------------- the dashboard

export interface BreakdownRow {
  dimension: 'project' | 'account' | 'region' | 'provider';
  value: string;
  servers: number;
  compliant: number;
  nonCompliant: number;
  unknown: number;
  pendingSecurity: number;
}

/** Server counts by state, grouped by project, account, region (tags.region) and provider, in one pass. */
export async function complianceBreakdown(sql: Queryable, projectIds: Scope): Promise<BreakdownRow[]> {
  const rows = await sql<
    (Omit<BreakdownRow, 'dimension' | 'value'> & {
      g: number;
      p: string | null;
      a: string | null;
      r: string | null;
      v: string | null;
    })[]
  >`
    select grouping(p.slug, a.name, s.tags ->> 'region', s.provider)::int as g,
           p.slug as p, a.name as a, s.tags ->> 'region' as r, s.provider as v,
           count(*)::int as servers,
           (count(*) filter (where cs.state = 'compliant'))::int as compliant,
           (count(*) filter (where cs.state = 'non-compliant'))::int as "nonCompliant",
           (count(*) filter (where cs.state is null or cs.state = 'unknown'))::int as unknown,
           coalesce(sum(st.open_security), 0)::int as "pendingSecurity"
    from servers s
    left join projects p on p.id = s.project_id
    left join accounts a on a.id = s.account_id
    left join server_compliance_state cs on cs.server_id = s.id
    left join server_scan_state st on st.server_id = s.id
    where ${inScope(sql, 's.project_id', projectIds)}
    group by grouping sets ((p.slug), (a.name), (s.tags ->> 'region'), (s.provider))
    order by 1, 2, 3, 4, 5`;
  // grouping() sets a bit for each column NOT grouped: 0b0111 = by project, 0b1011 by account, …
  const dimensionOf: Record<number, BreakdownRow['dimension']> = {
    7: 'project',
    11: 'account',
    13: 'region',
    14: 'provider',
  };
  return rows.flatMap((row) => {
    const dimension = dimensionOf[row.g];
    if (!dimension) return [];
    const value = { project: row.p, account: row.a, region: row.r, provider: row.v }[dimension];
    const { g: _g, p: _p, a: _a, r: _r, v: _v, ...counts } = row;
    return [{ dimension, value: value ?? '(none)', ...counts }];
  });
}

export interface ConversationRow {
  kind: string;
  subjectType: string;
  subjectId: string;
  title: string;
  status: string;
  at: Date;
  threads: { platform: string; channel: string; messageId: string }[];
  tickets: { system: string; key: string; url: string }[];
}

/**
 * The project's recent approvals, scan batches and patch plans, with where each one's chat thread
 * lives (message_refs) and its tickets (ticket_links, also those of the subject an approval is for).
 */
export async function listProjectConversations(
  sql: Queryable,
  projectId: number,
  limit: number,
): Promise<ConversationRow[]> {
  return sql<ConversationRow[]>`
    with subjects as (
      (select 'approval' as kind, 'approval' as subject_type, id::text as subject_id, title, status, created_at as at,
              subject_type as inner_type, subject_id as inner_id
       from approval_requests where project_id = ${projectId} order by created_at desc limit ${limit})
      union all
      (select 'scan', 'scan-batch', id::text, 'Scan of ' || coalesce(scope_value, 'all'), status, started_at, null, null
       from scan_batches where project_id = ${projectId} order by started_at desc limit ${limit})
      union all
      (select 'patch plan', 'patch-plan', id::text, 'Patch plan #' || id || ' (' || kind || ')', status, created_at, null, null
       from patch_plans where project_id = ${projectId} order by created_at desc limit ${limit})
    )
    select s.kind, s.subject_type as "subjectType", s.subject_id as "subjectId", s.title, s.status, s.at,
      coalesce((select jsonb_agg(jsonb_build_object('platform', m.platform, 'channel', m.channel, 'messageId', m.message_id))
                from message_refs m where m.subject_type = s.subject_type and m.subject_id = s.subject_id), '[]') as threads,
      coalesce((select jsonb_agg(jsonb_build_object('system', t.system, 'key', t.key, 'url', t.url))
                from ticket_links t
                where (t.subject_type = s.subject_type and t.subject_id = s.subject_id)
                   or (t.subject_type = s.inner_type and t.subject_id = s.inner_id)), '[]') as tickets
    from subjects s order by s.at desc limit ${limit}`;
}

/** Tickets opened for a server's baseline drifts. */
export async function listServerTickets(
  sql: Queryable,
  serverName: string,
): Promise<{ key: string; url: string; system: string; subject: string; at: Date }[]> {
  return sql<{ key: string; url: string; system: string; subject: string; at: Date }[]>`
    select key, url, system, subject_type || ':' || subject_id as subject, created_at as at
    from ticket_links
    where subject_type = 'baseline-drift' and starts_with(subject_id, ${`${serverName}:`})
    order by created_at desc limit 20`;
}
