import type { Queryable, Tx } from './db.js';
import { type PlanRow, type PlanStatus, planColumns } from './patching.js';

/**
 * The reads behind plan lists, the patching jobs (window dispatch, heads-up, auto-approval) and the
 * plan builder (storage/patching.ts has the plan rows themselves).
 */
export interface PlanFilter {
  /** null: every project. */
  projectIds: readonly number[] | null;
  projectId?: number;
  status?: PlanStatus;
  /** Keyset: plans with a smaller id. */
  beforeId?: number;
  limit: number;
}

/** Newest first. */
export async function listPlanRows(sql: Queryable, filter: PlanFilter): Promise<PlanRow[]> {
  return sql<PlanRow[]>`
    select ${planColumns(sql)} from patch_plans pl join projects p on p.id = pl.project_id
    where true
    ${filter.projectIds ? sql`and pl.project_id = any(${filter.projectIds as number[]})` : sql``}
    ${filter.projectId !== undefined ? sql`and pl.project_id = ${filter.projectId}` : sql``}
    ${filter.status ? sql`and pl.status = ${filter.status}` : sql``}
    ${filter.beforeId !== undefined ? sql`and pl.id < ${filter.beforeId}` : sql``}
    order by pl.id desc
    limit ${filter.limit}`;
}

/** Counts per plan, for lists: servers, packages, excluded packages. */
export async function countPlanItems(
  sql: Queryable,
  planIds: readonly number[],
): Promise<Map<number, { servers: number; packages: number; excluded: number }>> {
  if (planIds.length === 0) return new Map();
  const rows = await sql<{ planId: number; servers: number; packages: number; excluded: number }[]>`
    select plan_id as "planId", count(distinct server_id)::int as servers, count(*)::int as packages,
           (count(*) filter (where excluded))::int as excluded
    from patch_plan_items where plan_id = any(${planIds as number[]}) group by plan_id`;
  return new Map(rows.map((r) => [r.planId, r]));
}

/** Scheduled plans whose window has opened and whose run is not (or no longer recently) enqueued. */
export async function listPlansToDispatch(
  sql: Queryable,
  now: Date,
  reenqueueBefore: Date,
): Promise<PlanRow[]> {
  return sql<PlanRow[]>`
    select ${planColumns(sql)} from patch_plans pl join projects p on p.id = pl.project_id
    where pl.status = 'scheduled' and pl.window_start <= ${now}
      and (pl.run_enqueued_at is null or pl.run_enqueued_at < ${reenqueueBefore})
    order by pl.window_start, pl.id
    limit 100`;
}

export async function markRunEnqueued(sql: Queryable, id: number, at: Date): Promise<boolean> {
  const rows = await sql`
    update patch_plans set run_enqueued_at = ${at} where id = ${id} and status = 'scheduled' returning id`;
  return rows.length === 1;
}

/** Scheduled plans inside their heads-up lead time that have not had their heads-up. */
export async function listPlansDueHeadsUp(sql: Queryable, now: Date): Promise<PlanRow[]> {
  return sql<PlanRow[]>`
    select ${planColumns(sql)} from patch_plans pl join projects p on p.id = pl.project_id
    where pl.status = 'scheduled' and pl.heads_up_sent_at is null and pl.window_start > ${now}
      and coalesce((pl.policy_snapshot ->> 'headsUpMinutes')::int, 0) > 0
      and pl.window_start - make_interval(mins => (pl.policy_snapshot ->> 'headsUpMinutes')::int) <= ${now}
    order by pl.window_start
    limit 100`;
}

/** Claims the heads-up of a plan: true for exactly one caller. */
export async function claimHeadsUp(tx: Tx, id: number, at: Date): Promise<boolean> {
  const rows = await tx`
    update patch_plans set heads_up_sent_at = ${at}
    where id = ${id} and status = 'scheduled' and heads_up_sent_at is null returning id`;
  return rows.length === 1;
}

/** Plans waiting for approval with nothing excluded, in projects whose policy turns on auto-approval. */
export async function listAutoApprovalCandidates(sql: Queryable): Promise<PlanRow[]> {
  return sql<PlanRow[]>`
    select ${planColumns(sql)} from patch_plans pl join projects p on p.id = pl.project_id
    join patch_policies pp on pp.project_id = pl.project_id
    where pl.status = 'awaiting-approval' and pl.exclusion_request_id is null
      and (pp.policy ->> 'autoApproveAfterDays') is not null
    order by pl.id
    limit 500`;
}

// ---------------------------------------------------------------- what plans are built from

export interface CandidateFinding {
  serverId: number;
  serverName: string;
  tags: Record<string, string>;
  os: Record<string, unknown> | null;
  package: string;
  arch: string;
  installedVersion: string;
  candidateVersion: string;
  classification: string;
  severity: string;
  cves: string[];
  rebootRequired: boolean;
  firstSeenAt: Date;
}

/** Open findings of these servers with what a plan needs of their server, by server name and package. */
export async function listCandidateFindings(
  sql: Queryable,
  serverIds: readonly number[],
  cve?: string,
): Promise<CandidateFinding[]> {
  if (serverIds.length === 0) return [];
  return sql<CandidateFinding[]>`
    select f.server_id as "serverId", s.name as "serverName", s.tags, st.os, f.package, f.arch,
           f.installed_version as "installedVersion", f.candidate_version as "candidateVersion",
           f.classification, f.severity, f.cves, f.reboot_required as "rebootRequired",
           f.first_seen_at as "firstSeenAt"
    from findings_open f
    join servers s on s.id = f.server_id
    left join server_scan_state st on st.server_id = f.server_id
    where f.server_id = any(${serverIds as number[]})
    ${cve ? sql`and cardinality(f.cves) > 0 and f.cves @> array[${cve}]::text[]` : sql``}
    order by s.name, f.package, f.arch`;
}

/** Projects (among `projectIds`; null: all) with at least one server where `cve` is pending. */
export async function projectsWithCve(
  sql: Queryable,
  cve: string,
  projectIds: readonly number[] | null,
): Promise<{ projectId: number; slug: string; servers: number }[]> {
  return sql<{ projectId: number; slug: string; servers: number }[]>`
    select p.id as "projectId", p.slug, count(distinct f.server_id)::int as servers
    from findings_open f
    join servers s on s.id = f.server_id
    join projects p on p.id = s.project_id
    where cardinality(f.cves) > 0 and f.cves @> array[${cve}]::text[]
    ${projectIds ? sql`and p.id = any(${projectIds as number[]})` : sql``}
    group by p.id, p.slug
    order by p.slug`;
}
