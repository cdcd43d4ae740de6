import type { ComplianceState, StoredReason } from './compliance.js';
import type { Queryable, Tx } from './db.js';

/**
 * What the daily digest, the rollups and `/warden compliance` read: the evaluated state of a
 * project's servers, its daily rollups, and the pending work around it (approvals, grants,
 * keys). Every query is bounded by a project and an index; none reads raw history in bulk.
 */
export interface ProjectSettingsRow {
  id: number;
  slug: string;
  name: string;
  channels: Record<string, string>;
  settings: Record<string, unknown>;
}

export async function listProjectSettings(
  sql: Queryable,
  projectIds: readonly number[] | null,
): Promise<ProjectSettingsRow[]> {
  return sql<ProjectSettingsRow[]>`
    select id, slug, name, channels, settings from projects
    ${projectIds ? sql`where id = any(${projectIds as number[]})` : sql``}
    order by slug`;
}

// ---------------------------------------------------------------- rollups

export interface RollupTarget {
  projectId: number;
  day: string;
  dayStart: Date;
  dayEnd: Date;
}

/**
 * Today's row per project: counts from the evaluated state, and the mean time to patch of the
 * security updates resolved during the (local) day. Rewritten on each call; the day's last call
 * is what stays.
 */
export async function upsertDailyRollups(
  sql: Queryable,
  targets: readonly RollupTarget[],
  at: Date,
): Promise<void> {
  if (targets.length === 0) return;
  const json = targets.map((t) => ({
    project_id: t.projectId,
    day: t.day,
    day_start: t.dayStart.toISOString(),
    day_end: t.dayEnd.toISOString(),
  }));
  const from = new Date(Math.min(...targets.map((t) => t.dayStart.getTime())));
  const to = new Date(Math.max(...targets.map((t) => t.dayEnd.getTime())));
  await sql`
    with p as (
      select * from jsonb_to_recordset(${sql.json(json as never)})
        as p(project_id bigint, day date, day_start timestamptz, day_end timestamptz)
    ),
    counts as (
      select cs.project_id, count(*)::int as servers,
             (count(*) filter (where cs.state = 'compliant'))::int as compliant,
             (count(*) filter (where cs.state = 'non-compliant'))::int as non_compliant,
             (count(*) filter (where cs.state = 'unknown'))::int as unknown,
             coalesce(sum(cs.open_security), 0)::int as pending_security
      from server_compliance_state cs
      where cs.project_id in (select project_id from p)
      group by cs.project_id
    ),
    mttp as (
      select p.project_id, count(*)::int as resolved,
             avg(extract(epoch from fr.resolved_at - fr.first_seen_at))::float8 as seconds
      from findings_resolved fr
      join servers s on s.id = fr.server_id
      join p on p.project_id = s.project_id and fr.resolved_at >= p.day_start and fr.resolved_at < p.day_end
      where fr.classification = 'security' and fr.resolved_at >= ${from} and fr.resolved_at < ${to}
      group by p.project_id
    )
    insert into compliance_daily as d (project_id, day, servers, compliant, non_compliant, unknown, pending_security,
                                       security_resolved, mttp_seconds, computed_at)
    select p.project_id, p.day, coalesce(c.servers, 0), coalesce(c.compliant, 0), coalesce(c.non_compliant, 0),
           coalesce(c.unknown, 0), coalesce(c.pending_security, 0), coalesce(m.resolved, 0), m.seconds, ${at}::timestamptz
    from p left join counts c on c.project_id = p.project_id left join mttp m on m.project_id = p.project_id
    on conflict (project_id, day) do update set
      servers = excluded.servers, compliant = excluded.compliant, non_compliant = excluded.non_compliant,
      unknown = excluded.unknown, pending_security = excluded.pending_security,
      security_resolved = excluded.security_resolved, mttp_seconds = excluded.mttp_seconds,
      computed_at = excluded.computed_at`;
}

export interface DailyRollup {
  day: string;
  servers: number;
  compliant: number;
  nonCompliant: number;
  unknown: number;
  pendingSecurity: number;
  securityResolved: number;
  mttpSeconds: number | null;
}

/** Rows from `fromDay` to `toDay` inclusive (YYYY-MM-DD), oldest first. */
export async function listDailyRollups(
  sql: Queryable,
  projectId: number,
  fromDay: string,
  toDay: string,
): Promise<DailyRollup[]> {
  return sql<DailyRollup[]>`
    select to_char(day, 'YYYY-MM-DD') as day, servers, compliant, non_compliant as "nonCompliant", unknown,
           pending_security as "pendingSecurity", security_resolved as "securityResolved",
           mttp_seconds as "mttpSeconds"
    from compliance_daily
    where project_id = ${projectId} and day between ${fromDay}::date and ${toDay}::date
    order by day`;
}

// ---------------------------------------------------------------- the evaluated state

export interface StateCounts {
  servers: number;
  compliant: number;
  nonCompliant: number;
  unknown: number;
  pendingSecurity: number;
}

/** Per project (null: servers in no project). */
export async function countStatesByProject(
  sql: Queryable,
  projectIds: readonly number[] | null,
): Promise<(StateCounts & { projectId: number | null })[]> {
  return sql<(StateCounts & { projectId: number | null })[]>`
    select project_id as "projectId", count(*)::int as servers,
           (count(*) filter (where state = 'compliant'))::int as compliant,
           (count(*) filter (where state = 'non-compliant'))::int as "nonCompliant",
           (count(*) filter (where state = 'unknown'))::int as unknown,
           coalesce(sum(open_security), 0)::int as "pendingSecurity"
    from server_compliance_state
    ${projectIds ? sql`where project_id = any(${projectIds as number[]})` : sql``}
    group by project_id order by project_id nulls last`;
}

export interface StateRow {
  serverId: number;
  serverName: string;
  owner: string | null;
  state: ComplianceState;
  since: Date;
  reasons: StoredReason[];
  openSecurity: number;
  oldestUrgentAt: Date | null;
  /** How many rows matched before the limit. */
  total: number;
}

/**
 * A project's servers that are not compliant: `changedSince` keeps those that entered their state
 * after it (the digest's "crossed a threshold"); the order puts the worst first (most security
 * updates pending, oldest first).
 */
export async function listNotCompliant(
  sql: Queryable,
  input: { projectId: number; changedSince?: Date; order: 'worst' | 'recent'; limit: number },
): Promise<StateRow[]> {
  return sql<StateRow[]>`
    select cs.server_id as "serverId", s.name as "serverName", u.handle as owner, cs.state, cs.since, cs.reasons,
           cs.open_security as "openSecurity",
           least(st.oldest_open_security_first_seen_at, st.oldest_open_critical_first_seen_at) as "oldestUrgentAt",
           (count(*) over ())::int as total
    from server_compliance_state cs
    join servers s on s.id = cs.server_id
    left join users u on u.id = s.owner_id
    left join server_scan_state st on st.server_id = cs.server_id
    where cs.project_id = ${input.projectId} and cs.state <> 'compliant'
    ${input.changedSince ? sql`and cs.since > ${input.changedSince}` : sql``}
    ${
      input.order === 'worst'
        ? sql`order by (cs.state = 'non-compliant') desc, cs.open_security desc, "oldestUrgentAt" nulls last, s.name`
        : sql`order by cs.since desc, s.name`
    }
    limit ${input.limit}`;
}

// ---------------------------------------------------------------- pending work around the project

export interface PendingApproval {
  id: number;
  title: string;
  createdAt: Date;
  expiresAt: Date;
  total: number;
}

export async function listPendingApprovals(
  sql: Queryable,
  projectId: number,
  limit: number,
): Promise<PendingApproval[]> {
  return sql<PendingApproval[]>`
    select id, title, created_at as "createdAt", expires_at as "expiresAt", (count(*) over ())::int as total
    from approval_requests
    where status = 'pending' and project_id = ${projectId}
    order by created_at limit ${limit}`;
}

export interface ExpiringGrant {
  id: number;
  requester: string;
  login: string;
  expiresAt: Date;
  total: number;
}

export async function listExpiringGrants(
  sql: Queryable,
  input: { projectId: number; now: Date; until: Date; limit: number },
): Promise<ExpiringGrant[]> {
  return sql<ExpiringGrant[]>`
    select g.id, u.handle as requester, g.login, g.expires_at as "expiresAt", (count(*) over ())::int as total
    from grants g join users u on u.id = g.requester_id
    where g.status = 'active' and g.project_id = ${input.projectId}
      and g.expires_at >= ${input.now} and g.expires_at < ${input.until}
    order by g.expires_at limit ${input.limit}`;
}

export interface KeyDue {
  id: number;
  fingerprint: string;
  owner: string;
  purpose: string;
  dueAt: Date;
  total: number;
}

/** Live rotating keys of the project (its own, or installed on its servers) due before `until`. */
export async function listKeysDue(
  sql: Queryable,
  input: { projectId: number; rotateEveryMs: number; until: Date; limit: number },
): Promise<KeyDue[]> {
  return sql<KeyDue[]>`
    select x.id, x.fingerprint, x.owner, x.purpose, x.due_at as "dueAt", (count(*) over ())::int as total
    from (
      select k.id, k.fingerprint, u.handle as owner, k.purpose,
             k.created_at + coalesce(k.rotate_every_ms, ${input.rotateEveryMs}::bigint) * interval '1 millisecond' as due_at
      from keys k join users u on u.id = k.owner_id
      where k.retired_at is null and (k.kind = 'service' or k.rotate_every_ms is not null)
        and (k.project_id = ${input.projectId} or exists (
          select 1 from key_installations ki join servers s on s.id = ki.server_id
          where ki.key_id = k.id and ki.removed_at is null and s.project_id = ${input.projectId}))
    ) x
    where x.due_at < ${input.until}
    order by x.due_at limit ${input.limit}`;
}

// ---------------------------------------------------------------- digests sent

/** Claims the project's daily digest for `day`; false when it was already sent (by anyone). */
export async function claimDigest(tx: Tx, projectId: number, day: string, at: Date): Promise<boolean> {
  const rows = await tx`
    insert into compliance_digests (project_id, day, sent_at) values (${projectId}, ${day}::date, ${at})
    on conflict (project_id, day) do nothing returning project_id`;
  return rows.length > 0;
}

export async function setDigestAuditSeq(tx: Tx, projectId: number, day: string, seq: number): Promise<void> {
  await tx`update compliance_digests set audit_seq = ${seq} where project_id = ${projectId} and day = ${day}::date`;
}

/** Days (YYYY-MM-DD) whose digest was sent, among `days`, per project. */
export async function listSentDigests(
  sql: Queryable,
  days: readonly { projectId: number; day: string }[],
): Promise<Set<string>> {
  if (days.length === 0) return new Set();
  const json = days.map((d) => ({ project_id: d.projectId, day: d.day }));
  const rows = await sql<{ projectId: number; day: string }[]>`
    select c.project_id as "projectId", to_char(c.day, 'YYYY-MM-DD') as day
    from compliance_digests c
    join jsonb_to_recordset(${sql.json(json as never)}) as r(project_id bigint, day date)
      on r.project_id = c.project_id and r.day = c.day`;
  return new Set(rows.map((r) => `${r.projectId}:${r.day}`));
}

/** When the project's previous daily digest went out (before `day`). */
export async function previousDigestAt(sql: Queryable, projectId: number, day: string): Promise<Date | null> {
  const [row] = await sql<{ sentAt: Date }[]>`
    select sent_at as "sentAt" from compliance_digests
    where project_id = ${projectId} and day < ${day}::date order by day desc limit 1`;
  return row?.sentAt ?? null;
}
