import type { PatchPolicy } from '../commands/patching/policy.js';
import type { Queryable, Tx } from './db.js';

/**
 * Patch policies and plans (migration 1700000000080). The rules live in commands/patching/; these
 * only read and write rows. Status changes are guarded by the expected current statuses, so a stale
 * caller never moves a plan that someone else moved first.
 */
export type PlanStatus =
  | 'draft'
  | 'awaiting-approval'
  | 'approved'
  | 'scheduled'
  | 'running'
  | 'succeeded'
  | 'partially-failed'
  | 'failed'
  | 'rolled-back'
  | 'cancelled'
  | 'superseded';
export type PlanKind = 'scheduled' | 'now' | 'cve';

/** Live plans hold their project's slot (one per project, kind and CVE). */
export const LIVE_STATUSES: readonly PlanStatus[] = [
  'draft',
  'awaiting-approval',
  'approved',
  'scheduled',
  'running',
];

/** What the build recorded besides the items, for the message, the API and the drift check. */
export interface PlanNotes {
  /** Servers whose fresh findings were looked at (the drift check looks at the same ones). */
  consideredServerIds?: number[];
  /** Servers left out: scan failed or stale, no ring, … */
  notPlanned?: { server: string; reason: string }[];
  /** Packages kept off by an active exception. */
  skipped?: { server: string; package: string; owner: string; expiresAt: string; reason: string }[];
  /** Excluded packages left out because the plan was built with --skip-excluded. */
  heldBack?: { server: string; package: string }[];
  /** Scan output Warden refused to put in a plan (names or versions no package manager allows). */
  refused?: { server: string; package: string; reason: string }[];
  /** The next window when the plan was built; the real one is set when it is scheduled. */
  tentativeWindow?: { start: string; end: string; cutoffAt: string; timezone: string; label: string } | null;
  /** Why it was superseded or cancelled. */
  endReason?: string;
  /** The scan batch that refreshed stale servers before planning. */
  rescanBatchId?: number;
}

export interface PlanRow {
  id: number;
  projectId: number;
  projectSlug: string;
  status: PlanStatus;
  kind: PlanKind;
  cve: string | null;
  hash: string;
  windowStart: Date | null;
  windowEnd: Date | null;
  cutoffAt: Date | null;
  approvalRequestId: number | null;
  exclusionRequestId: number | null;
  createdBy: number | null;
  createdRef: string;
  createdAt: Date;
  approvedAt: Date | null;
  exclusionApprovedAt: Date | null;
  scheduledAt: Date | null;
  runEnqueuedAt: Date | null;
  headsUpSentAt: Date | null;
  statusChangedAt: Date;
  supersededBy: number | null;
  policySnapshot: PatchPolicy;
  notes: PlanNotes;
  skipExcluded: boolean;
}

export interface PlanItemRow {
  planId: number;
  serverId: number;
  serverName: string;
  ring: number;
  position: number;
  package: string;
  arch: string;
  fromVersion: string;
  toVersion: string;
  classification: string;
  severity: string;
  cves: string[];
  excluded: boolean;
  rebootExpected: boolean;
  osFamily: string;
  firstSeenAt: Date;
}

/** The plan columns (with its project's slug) as PlanRow names them; `pl` and `p` must be in the query. */
export const planColumns = (sql: Queryable) => sql`
  pl.id, pl.project_id as "projectId", p.slug as "projectSlug", pl.status, pl.kind, pl.cve, pl.hash,
  pl.window_start as "windowStart", pl.window_end as "windowEnd", pl.cutoff_at as "cutoffAt",
  pl.approval_request_id as "approvalRequestId", pl.exclusion_request_id as "exclusionRequestId",
  pl.created_by as "createdBy", pl.created_ref as "createdRef", pl.created_at as "createdAt",
  pl.approved_at as "approvedAt", pl.exclusion_approved_at as "exclusionApprovedAt",
  pl.scheduled_at as "scheduledAt", pl.run_enqueued_at as "runEnqueuedAt", pl.heads_up_sent_at as "headsUpSentAt",
  pl.status_changed_at as "statusChangedAt", pl.superseded_by as "supersededBy",
  pl.policy_snapshot as "policySnapshot", pl.notes, pl.skip_excluded as "skipExcluded"`;

// ---------------------------------------------------------------- policies

export interface PolicyRow {
  projectId: number;
  policy: unknown;
  updatedAt: Date;
  updatedBy: string;
}

export async function getPolicyRow(sql: Queryable, projectId: number): Promise<PolicyRow | undefined> {
  const [row] = await sql<PolicyRow[]>`
    select project_id as "projectId", policy, updated_at as "updatedAt", updated_by as "updatedBy"
    from patch_policies where project_id = ${projectId}`;
  return row;
}

/** The stored policy row, locked until the transaction ends (concurrent edits queue up). */
export async function lockPolicyRow(tx: Tx, projectId: number): Promise<PolicyRow | undefined> {
  const [row] = await tx<PolicyRow[]>`
    select project_id as "projectId", policy, updated_at as "updatedAt", updated_by as "updatedBy"
    from patch_policies where project_id = ${projectId} for update`;
  return row;
}

export async function upsertPolicy(
  sql: Queryable,
  input: { projectId: number; policy: PatchPolicy; at: Date; by: string },
): Promise<void> {
  await sql`
    insert into patch_policies (project_id, policy, updated_at, updated_by)
    values (${input.projectId}, ${sql.json(input.policy as never)}, ${input.at}, ${input.by})
    on conflict (project_id) do update set
      policy = excluded.policy, updated_at = excluded.updated_at, updated_by = excluded.updated_by`;
}

// ---------------------------------------------------------------- plans

export interface PlanInsert {
  projectId: number;
  status: PlanStatus;
  kind: PlanKind;
  cve: string | null;
  hash: string;
  createdBy: number | null;
  createdRef: string;
  at: Date;
  policySnapshot: PatchPolicy;
  notes: PlanNotes;
  skipExcluded: boolean;
}

export async function insertPlan(tx: Tx, input: PlanInsert): Promise<number> {
  const [row] = await tx<{ id: number }[]>`
    insert into patch_plans (project_id, status, kind, cve, hash, created_by, created_ref, created_at,
                             status_changed_at, policy_snapshot, notes, skip_excluded)
    values (${input.projectId}, ${input.status}, ${input.kind}, ${input.cve}, ${input.hash}, ${input.createdBy},
            ${input.createdRef}, ${input.at}, ${input.at}, ${tx.json(input.policySnapshot as never)},
            ${tx.json(input.notes as never)}, ${input.skipExcluded})
    returning id`;
  return row!.id;
}

export type PlanItemInsert = Omit<PlanItemRow, 'planId' | 'serverName'>;

/** Rows per INSERT: 15 parameters each stays far below Postgres' parameter limit. */
const CHUNK = 500;

export async function insertPlanItems(
  tx: Tx,
  planId: number,
  items: readonly PlanItemInsert[],
): Promise<void> {
  for (let i = 0; i < items.length; i += CHUNK) {
    const rows = items.slice(i, i + CHUNK).map((it) => ({
      plan_id: planId,
      server_id: it.serverId,
      ring: it.ring,
      position: it.position,
      package: it.package,
      arch: it.arch,
      from_version: it.fromVersion,
      to_version: it.toVersion,
      classification: it.classification,
      severity: it.severity,
      cves: it.cves,
      excluded: it.excluded,
      reboot_expected: it.rebootExpected,
      os_family: it.osFamily,
      first_seen_at: it.firstSeenAt,
    }));
    await tx`insert into patch_plan_items ${tx(
      rows,
      'plan_id',
      'server_id',
      'ring',
      'position',
      'package',
      'arch',
      'from_version',
      'to_version',
      'classification',
      'severity',
      'cves',
      'excluded',
      'reboot_expected',
      'os_family',
      'first_seen_at',
    )}`;
  }
}

export async function getPlanRow(sql: Queryable, id: number): Promise<PlanRow | undefined> {
  const [row] = await sql<PlanRow[]>`
    select ${planColumns(sql)} from patch_plans pl join projects p on p.id = pl.project_id where pl.id = ${id}`;
  return row;
}

export async function lockPlanRow(tx: Tx, id: number): Promise<PlanRow | undefined> {
  const [row] = await tx<PlanRow[]>`
    select ${planColumns(tx)} from patch_plans pl join projects p on p.id = pl.project_id
    where pl.id = ${id} for update of pl`;
  return row;
}

/** Items in run order: ring, position in the ring, then package. */
export async function listPlanItems(sql: Queryable, planId: number): Promise<PlanItemRow[]> {
  return sql<PlanItemRow[]>`
    select i.plan_id as "planId", i.server_id as "serverId", s.name as "serverName", i.ring, i.position,
           i.package, i.arch, i.from_version as "fromVersion", i.to_version as "toVersion", i.classification,
           i.severity, i.cves, i.excluded, i.reboot_expected as "rebootExpected", i.os_family as "osFamily",
           i.first_seen_at as "firstSeenAt"
    from patch_plan_items i join servers s on s.id = i.server_id
    where i.plan_id = ${planId}
    order by i.ring, i.position, i.package, i.arch`;
}

/** The live plan holding a project's slot for this kind (and CVE), locked. */
export async function lockLivePlan(
  tx: Tx,
  input: { projectId: number; kind: PlanKind; cve: string | null },
): Promise<PlanRow | undefined> {
  const [row] = await tx<PlanRow[]>`
    select ${planColumns(tx)} from patch_plans pl join projects p on p.id = pl.project_id
    where pl.project_id = ${input.projectId} and pl.kind = ${input.kind}
      and coalesce(pl.cve, '') = ${input.cve ?? ''} and pl.status = any(${LIVE_STATUSES as PlanStatus[]})
    for update of pl`;
  return row;
}

/** Every live plan of a project not yet running (a policy change supersedes them), locked. */
export async function lockPendingPlansOfProject(tx: Tx, projectId: number): Promise<PlanRow[]> {
  return tx<PlanRow[]>`
    select ${planColumns(tx)} from patch_plans pl join projects p on p.id = pl.project_id
    where pl.project_id = ${projectId} and pl.status in ('draft', 'awaiting-approval', 'approved', 'scheduled')
    order by pl.id
    for update of pl`;
}

export interface PlanUpdate {
  status?: PlanStatus;
  at: Date;
  approvalRequestId?: number | null;
  exclusionRequestId?: number | null;
  approvedAt?: Date;
  exclusionApprovedAt?: Date;
  scheduledAt?: Date;
  window?: { start: Date; end: Date; cutoffAt: Date } | null;
  /** Set with a new window: the heads-up is due again and the run not yet enqueued. */
  resetDispatch?: boolean;
  supersededBy?: number;
  /** Merged into notes. */
  notes?: Partial<PlanNotes>;
}

/**
 * Update a plan that is in one of `from` (any status when omitted). Returns false when it was not
 * (someone moved it first): the caller decides whether that is an error.
 */
export async function updatePlan(
  tx: Tx,
  id: number,
  from: readonly PlanStatus[] | undefined,
  update: PlanUpdate,
): Promise<boolean> {
  const w = update.window;
  const rows = await tx`
    update patch_plans set
      status = coalesce(${update.status ?? null}, status),
      status_changed_at = case when ${update.status ?? null}::text is null or ${update.status ?? null} = status
                               then status_changed_at else ${update.at}::timestamptz end,
      approval_request_id = ${update.approvalRequestId === undefined ? tx`approval_request_id` : update.approvalRequestId},
      exclusion_request_id = ${update.exclusionRequestId === undefined ? tx`exclusion_request_id` : update.exclusionRequestId},
      approved_at = coalesce(${update.approvedAt ?? null}, approved_at),
      exclusion_approved_at = coalesce(${update.exclusionApprovedAt ?? null}, exclusion_approved_at),
      scheduled_at = coalesce(${update.scheduledAt ?? null}, scheduled_at),
      window_start = ${w === undefined ? tx`window_start` : (w?.start ?? null)},
      window_end = ${w === undefined ? tx`window_end` : (w?.end ?? null)},
      cutoff_at = ${w === undefined ? tx`cutoff_at` : (w?.cutoffAt ?? null)},
      heads_up_sent_at = ${update.resetDispatch ? null : tx`heads_up_sent_at`},
      run_enqueued_at = ${update.resetDispatch ? null : tx`run_enqueued_at`},
      superseded_by = coalesce(${update.supersededBy ?? null}, superseded_by),
      notes = notes || ${tx.json((update.notes ?? {}) as never)}
    where id = ${id} ${from ? tx`and status = any(${from as PlanStatus[]})` : tx``}
    returning id`;
  return rows.length === 1;
}
