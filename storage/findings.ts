import type postgres from 'postgres';
import type { Queryable } from './db.js';

/**
 * Findings: what is pending on each server. `findings_open` holds one row per server, package
 * and architecture, keeping the age of each (first_seen_at); when a package is no longer
 * pending its row moves to the append-only `findings_resolved`. Writes are multi-row.
 */
export type Classification = 'security' | 'bugfix' | 'enhancement' | 'other';
export type Severity = 'critical' | 'important' | 'moderate' | 'low' | 'unknown';

/** A finding as a scan reports it, already normalised (arch '' when unknown). */
export interface FindingWrite {
  package: string;
  arch: string;
  installedVersion: string;
  candidateVersion: string;
  classification: Classification;
  severity: Severity;
  cves: string[];
  advisories: string[];
  source: string | null;
  rebootRequired: boolean;
}

export interface OpenFinding extends FindingWrite {
  serverId: number;
  firstSeenAt: Date;
  lastSeenAt: Date;
  firstScanId: number;
  lastScanId: number;
}

export interface OpenFindingWithServer extends OpenFinding {
  serverName: string;
  projectId: number | null;
  projectSlug: string | null;
}

export interface FindingKey {
  package: string;
  arch: string;
}

/** Rows per INSERT: 14 parameters each stays far below Postgres' 65,535 parameter limit. */
const CHUNK = 500;

const findingColumns = (sql: Queryable) => sql`
  f.server_id as "serverId", f.package, f.arch, f.installed_version as "installedVersion",
  f.candidate_version as "candidateVersion", f.classification, f.severity, f.cves, f.advisories, f.source,
  f.reboot_required as "rebootRequired", f.first_seen_at as "firstSeenAt", f.last_seen_at as "lastSeenAt",
  f.first_scan_id as "firstScanId", f.last_scan_id as "lastScanId"`;

/** The server's open findings (identity and installed version), locked until the transaction ends. */
export async function lockOpenFindingKeys(
  sql: Queryable,
  serverId: number,
): Promise<(FindingKey & { installedVersion: string })[]> {
  return sql<(FindingKey & { installedVersion: string })[]>`
    select package, arch, installed_version as "installedVersion"
    from findings_open where server_id = ${serverId}
    for update`;
}

/**
 * Insert new findings and refresh those still pending: candidate, classification, severity and
 * CVEs follow the latest scan; first_seen_at and first_scan_id never change.
 */
export async function upsertOpenFindings(
  sql: Queryable,
  serverId: number,
  findings: readonly FindingWrite[],
  input: { scanId: number; at: Date },
): Promise<void> {
  for (let i = 0; i < findings.length; i += CHUNK) {
    const rows = findings.slice(i, i + CHUNK).map((f) => ({
      server_id: serverId,
      package: f.package,
      arch: f.arch,
      installed_version: f.installedVersion,
      candidate_version: f.candidateVersion,
      classification: f.classification,
      severity: f.severity,
      cves: f.cves,
      advisories: f.advisories,
      source: f.source,
      reboot_required: f.rebootRequired,
      first_seen_at: input.at,
      last_seen_at: input.at,
      first_scan_id: input.scanId,
      last_scan_id: input.scanId,
    }));
    await sql`
      insert into findings_open ${sql(
        rows,
        'server_id',
        'package',
        'arch',
        'installed_version',
        'candidate_version',
        'classification',
        'severity',
        'cves',
        'advisories',
        'source',
        'reboot_required',
        'first_seen_at',
        'last_seen_at',
        'first_scan_id',
        'last_scan_id',
      )}
      on conflict (server_id, package, arch) do update set
        installed_version = excluded.installed_version,
        candidate_version = excluded.candidate_version,
        classification = excluded.classification,
        severity = excluded.severity,
        cves = excluded.cves,
        advisories = excluded.advisories,
        source = excluded.source,
        reboot_required = excluded.reboot_required,
        last_seen_at = excluded.last_seen_at,
        last_scan_id = excluded.last_scan_id`;
  }
}

/** What moved to history, for the scan's counts. */
export interface ResolvedCount {
  total: number;
  security: number;
}

async function moveToResolved(
  sql: Queryable,
  condition: postgres.Fragment,
  input: { scanId: number; at: Date },
): Promise<ResolvedCount> {
  const rows = await sql<{ classification: string }[]>`
    with gone as (
      delete from findings_open f where ${condition}
      returning f.*
    )
    insert into findings_resolved (server_id, package, arch, installed_version, candidate_version, classification,
                                   severity, cves, advisories, source, reboot_required, first_seen_at, last_seen_at,
                                   first_scan_id, last_scan_id, resolved_at, resolved_scan_id)
    select server_id, package, arch, installed_version, candidate_version, classification, severity, cves,
           advisories, source, reboot_required, first_seen_at, last_seen_at, first_scan_id, last_scan_id,
           ${input.at}::timestamptz, ${input.scanId}::bigint
    from gone
    returning classification`;
  return { total: rows.length, security: rows.filter((r) => r.classification === 'security').length };
}

/** Move these open findings to history (an update was installed, a different one is now pending). */
export async function resolveFindingsByKeys(
  sql: Queryable,
  serverId: number,
  keys: readonly FindingKey[],
  input: { scanId: number; at: Date },
): Promise<ResolvedCount> {
  if (keys.length === 0) return { total: 0, security: 0 };
  const packages = keys.map((k) => k.package);
  const arches = keys.map((k) => k.arch);
  return moveToResolved(
    sql,
    sql`f.server_id = ${serverId}
        and (f.package, f.arch) in (select * from unnest(${packages}::text[], ${arches}::text[]))`,
    input,
  );
}

/** Move every open finding the scan `scanId` did not see to history. */
export async function resolveFindingsNotSeen(
  sql: Queryable,
  serverId: number,
  input: { scanId: number; at: Date },
): Promise<ResolvedCount> {
  return moveToResolved(sql, sql`f.server_id = ${serverId} and f.last_scan_id <> ${input.scanId}`, input);
}

export interface OpenAggregate {
  total: number;
  security: number;
  critical: number;
  oldestSecurity: Date | null;
  oldestCritical: Date | null;
  rebootRequired: boolean;
}

/** The server's open findings summed up, for its server_scan_state row. */
export async function aggregateOpenFindings(sql: Queryable, serverId: number): Promise<OpenAggregate> {
  const [row] = await sql<OpenAggregate[]>`
    select count(*)::int as total,
           (count(*) filter (where classification = 'security'))::int as security,
           (count(*) filter (where severity = 'critical'))::int as critical,
           min(first_seen_at) filter (where classification = 'security') as "oldestSecurity",
           min(first_seen_at) filter (where severity = 'critical') as "oldestCritical",
           coalesce(bool_or(reboot_required), false) as "rebootRequired"
    from findings_open where server_id = ${serverId}`;
  return row!;
}

/** One server's open findings, most urgent first (security, severity, oldest). */
export async function listOpenFindingsOfServer(
  sql: Queryable,
  serverId: number,
  limit: number,
): Promise<OpenFinding[]> {
  return sql<OpenFinding[]>`
    select ${findingColumns(sql)} from findings_open f
    where f.server_id = ${serverId}
    order by (f.classification = 'security') desc,
             array_position(array['critical','important','moderate','low','unknown'], f.severity),
             f.first_seen_at, f.package, f.arch
    limit ${limit}`;
}

export interface FindingFilter {
  /** null: every project (and servers in none). */
  projectIds: readonly number[] | null;
  projectId?: number;
  serverId?: number;
  classification?: Classification;
  severity?: Severity;
  cve?: string;
  /** Keyset: rows after this (server name, package, arch). */
  after?: [string, string, string];
  limit: number;
}

/** Open findings across servers, ordered by server name, package and arch. */
export async function listOpenFindings(
  sql: Queryable,
  filter: FindingFilter,
): Promise<OpenFindingWithServer[]> {
  const after = filter.after;
  return sql<OpenFindingWithServer[]>`
    select ${findingColumns(sql)}, s.name as "serverName", s.project_id as "projectId", p.slug as "projectSlug"
    from findings_open f
    join servers s on s.id = f.server_id
    left join projects p on p.id = s.project_id
    where true
    ${filter.projectIds ? sql`and s.project_id = any(${filter.projectIds as number[]})` : sql``}
    ${filter.projectId !== undefined ? sql`and s.project_id = ${filter.projectId}` : sql``}
    ${filter.serverId !== undefined ? sql`and f.server_id = ${filter.serverId}` : sql``}
    ${filter.classification ? sql`and f.classification = ${filter.classification}` : sql``}
    ${filter.severity ? sql`and f.severity = ${filter.severity}` : sql``}
    ${filter.cve ? sql`and cardinality(f.cves) > 0 and f.cves @> array[${filter.cve}]::text[]` : sql``}
    ${after ? sql`and (s.name, f.package, f.arch) > (${after[0]}, ${after[1]}, ${after[2]})` : sql``}
    order by s.name, f.package, f.arch
    limit ${filter.limit}`;
}

export interface CountRow {
  projectId: number | null;
  classification: Classification;
  severity: Severity;
  count: number;
}

/** Open findings of these servers, counted by project, classification and severity. */
export async function countOpenFindings(sql: Queryable, serverIds: readonly number[]): Promise<CountRow[]> {
  if (serverIds.length === 0) return [];
  return sql<CountRow[]>`
    select s.project_id as "projectId", f.classification, f.severity, count(*)::int as count
    from findings_open f join servers s on s.id = f.server_id
    where f.server_id = any(${serverIds as number[]})
    group by 1, 2, 3`;
}

/** Security findings first seen by these scans (the "new since last scan" list of a summary). */
export async function newSecurityFindings(
  sql: Queryable,
  scanIds: readonly number[],
  limit: number,
): Promise<OpenFindingWithServer[]> {
  if (scanIds.length === 0) return [];
  return sql<OpenFindingWithServer[]>`
    select ${findingColumns(sql)}, s.name as "serverName", s.project_id as "projectId", p.slug as "projectSlug"
    from findings_open f
    join servers s on s.id = f.server_id
    left join projects p on p.id = s.project_id
    where f.first_scan_id = any(${scanIds as number[]}) and f.classification = 'security'
    order by array_position(array['critical','important','moderate','low','unknown'], f.severity), s.name, f.package
    limit ${limit}`;
}

/** A server's resolved history, newest first. */
export async function listResolvedFindings(
  sql: Queryable,
  serverId: number,
  limit: number,
): Promise<(OpenFinding & { resolvedAt: Date; resolvedScanId: number })[]> {
  return sql<(OpenFinding & { resolvedAt: Date; resolvedScanId: number })[]>`
    select ${findingColumns(sql)}, f.resolved_at as "resolvedAt", f.resolved_scan_id as "resolvedScanId"
    from findings_resolved f
    where f.server_id = ${serverId}
    order by f.resolved_at desc, f.id desc
    limit ${limit}`;
}
