import { z } from 'zod';
import { ProjectSlug } from '../../../commands/inventory/schema.js';
import { buildPlan } from '../../../commands/patching/build.js';
import type { PatchPlan, PatchPlanItem } from '../../../commands/patching/plans.js';
import { PatchPolicy } from '../../../commands/patching/policy.js';
import { showPatchPolicy, updatePatchPolicy } from '../../../commands/patching/policy-store.js';
import { getPlanFor, listPlans, MAX_PLAN_PAGE } from '../../../commands/patching/queries.js';
import type { PlanStatus } from '../../../storage/patching.js';
import { type ApiRoute, defineRoute } from '../registry.js';

/**
 * /api/v1 routes of patching: the project's patch policy (validated by the same zod schema the
 * commands use, so the OpenAPI document shows it field by field), building plans, and reading them.
 */
const Timestamp = z.iso.datetime();
const iso = (d: Date | null) => (d ? d.toISOString() : null);
const STATUSES = [
  'draft',
  'awaiting-approval',
  'approved',
  'scheduled',
  'running',
  'succeeded',
  'partially-failed',
  'failed',
  'rolled-back',
  'cancelled',
  'superseded',
] as const satisfies readonly PlanStatus[];

const SlugParam = z.object({ slug: ProjectSlug });
const IdParam = z.object({ id: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER) });

const PolicyView = z.object({
  project: z.string(),
  default: z.boolean().describe('true when the project has no policy of its own and uses the default'),
  policy: PatchPolicy,
  updatedAt: Timestamp.nullable(),
  updatedBy: z.string().nullable(),
  superseded: z
    .array(z.int())
    .optional()
    .describe('plans superseded by this change (they need a new approval)'),
});

const PlanView = z.object({
  id: z.int(),
  project: z.string(),
  status: z.enum(STATUSES),
  kind: z.enum(['scheduled', 'now', 'cve']),
  cve: z.string().nullable(),
  hash: z.string(),
  window: z.object({ start: Timestamp, end: Timestamp, cutoffAt: Timestamp }).nullable(),
  approvalRequestId: z.int().nullable(),
  exclusionRequestId: z.int().nullable(),
  createdBy: z.string(),
  createdAt: Timestamp,
  approvedAt: Timestamp.nullable(),
  exclusionApprovedAt: Timestamp.nullable(),
  scheduledAt: Timestamp.nullable(),
  supersededBy: z.int().nullable(),
  servers: z.int(),
  packages: z.int(),
  excluded: z.int(),
  notes: z.record(z.string(), z.unknown()),
});

const ItemView = z.object({
  server: z.string(),
  ring: z.int(),
  ringName: z.string(),
  position: z.int(),
  package: z.string(),
  arch: z.string(),
  fromVersion: z.string(),
  toVersion: z.string(),
  classification: z.string(),
  severity: z.string(),
  cves: z.array(z.string()),
  excluded: z.boolean(),
  rebootExpected: z.boolean(),
  osFamily: z.string(),
  firstSeenAt: Timestamp,
});

function planView(
  plan: PatchPlan,
  counts: { servers: number; packages: number; excluded: number },
): z.input<typeof PlanView> {
  return {
    id: plan.id,
    project: plan.projectSlug,
    status: plan.status,
    kind: plan.kind,
    cve: plan.cve,
    hash: plan.hash,
    window:
      plan.windowStart && plan.windowEnd && plan.cutoffAt
        ? {
            start: plan.windowStart.toISOString(),
            end: plan.windowEnd.toISOString(),
            cutoffAt: plan.cutoffAt.toISOString(),
          }
        : null,
    approvalRequestId: plan.approvalRequestId,
    exclusionRequestId: plan.exclusionRequestId,
    createdBy: plan.createdRef,
    createdAt: plan.createdAt.toISOString(),
    approvedAt: iso(plan.approvedAt),
    exclusionApprovedAt: iso(plan.exclusionApprovedAt),
    scheduledAt: iso(plan.scheduledAt),
    supersededBy: plan.supersededBy,
    ...counts,
    notes: plan.notes as Record<string, unknown>,
  };
}

function countsOf(items: readonly PatchPlanItem[]) {
  return {
    servers: new Set(items.map((i) => i.serverId)).size,
    packages: items.length,
    excluded: items.filter((i) => i.excluded).length,
  };
}

function itemView(plan: PatchPlan, i: PatchPlanItem): z.input<typeof ItemView> {
  return {
    server: i.serverName,
    ring: i.ring,
    ringName: plan.policySnapshot.rings[i.ring]?.name ?? String(i.ring),
    position: i.position,
    package: i.package,
    arch: i.arch,
    fromVersion: i.fromVersion,
    toVersion: i.toVersion,
    classification: i.classification,
    severity: i.severity,
    cves: i.cves,
    excluded: i.excluded,
    rebootExpected: i.rebootExpected,
    osFamily: i.osFamily,
    firstSeenAt: i.firstSeenAt.toISOString(),
  };
}

const PlanDetail = z.object({ plan: PlanView, policy: PatchPolicy, items: z.array(ItemView) });
const BuildBody = z
  .object({
    project: ProjectSlug,
    kind: z.enum(['scheduled', 'now', 'cve']).default('scheduled'),
    cve: z.string().max(40).optional().describe('for kind cve: the CVE id'),
    skipExcluded: z
      .boolean()
      .default(false)
      .describe('leave excluded packages out instead of asking for their approval'),
  })
  .strict();
const BuildResult = z.object({
  outcome: z.enum(['created', 'unchanged', 'empty']),
  plan: PlanView.nullable(),
  items: z.array(ItemView),
  rescanned: z.int().describe('stale servers rescanned before planning'),
  supersededPlan: z.int().nullable(),
  notes: z.record(z.string(), z.unknown()).optional(),
});

export const patchingRoutes: readonly ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/projects/{slug}/patch-policy',
    operationId: 'getPatchPolicy',
    summary: "A project's patch policy (the default when it has none of its own)",
    tag: 'patching',
    permission: 'inventory:read',
    params: SlugParam,
    response: PolicyView,
    handler: async ({ params, deps, actor }) => {
      const shown = await showPatchPolicy(deps, actor, { project: params.slug });
      return {
        project: shown.project.slug,
        default: !shown.stored,
        policy: shown.policy,
        updatedAt: iso(shown.updatedAt),
        updatedBy: shown.updatedBy,
      };
    },
  }),
  defineRoute({
    method: 'put',
    path: '/projects/{slug}/patch-policy',
    operationId: 'putPatchPolicy',
    summary: "Replace a project's patch policy",
    description:
      'Needs patch:plan on the project, and patch:approve-exclusion too when the exclusions (or separateExclusionApprover) ' +
      'change. Plans of the project that have not started and whose run the change affects are superseded.',
    tag: 'patching',
    permission: 'patch:plan',
    params: SlugParam,
    body: PatchPolicy,
    bodyFormats: ['json', 'yaml'],
    response: PolicyView,
    handler: async ({ params, body, deps, actor, meta }) => {
      const done = await updatePatchPolicy(deps, actor, { project: params.slug, policy: body }, meta);
      return {
        project: done.project.slug,
        default: false,
        policy: done.policy,
        updatedAt: deps.clock.now().toISOString(),
        updatedBy: `user:${actor.user.handle}`,
        superseded: done.superseded,
      };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/plans',
    operationId: 'buildPatchPlan',
    summary: 'Build a patch plan for a project (stale servers are rescanned first) and post it for approval',
    description:
      'Waits for the rescan. outcome: created (posted for approval), unchanged (the live plan is the same; no new ' +
      'approval needed) or empty (nothing pending matches the policy).',
    tag: 'patching',
    permission: 'patch:plan',
    body: BuildBody,
    response: BuildResult,
    handler: async ({ body, deps, actor, meta }) => {
      const built = await buildPlan(
        deps,
        actor,
        {
          project: body.project,
          kind: body.kind,
          skipExcluded: body.skipExcluded,
          ...(body.cve ? { cve: body.cve } : {}),
        },
        meta,
      );
      if (built.outcome === 'empty') {
        return {
          outcome: 'empty' as const,
          plan: null,
          items: [],
          rescanned: built.rescanned,
          supersededPlan: null,
          notes: built.notes as Record<string, unknown>,
        };
      }
      return {
        outcome: built.outcome,
        plan: planView(built.plan, countsOf(built.items)),
        items: built.items.map((i) => itemView(built.plan, i)),
        rescanned: built.rescanned,
        supersededPlan: built.outcome === 'created' ? built.superseded : null,
      };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/plans',
    operationId: 'listPatchPlans',
    summary: 'Patch plans, newest first',
    tag: 'patching',
    permission: 'inventory:read',
    query: z.object({
      project: ProjectSlug.optional(),
      status: z.enum(STATUSES).optional(),
      before: z.coerce
        .number()
        .int()
        .min(1)
        .optional()
        .describe('only plans with a smaller id (the next page)'),
      limit: z.coerce.number().int().min(1).max(MAX_PLAN_PAGE).optional(),
    }),
    response: z.object({ items: z.array(PlanView), nextBefore: z.int().nullable() }),
    handler: async ({ query, deps, actor }) => {
      const limit = query.limit ?? 25;
      const rows = await listPlans(deps, actor, {
        ...(query.project ? { project: query.project } : {}),
        ...(query.status ? { status: query.status } : {}),
        ...(query.before ? { beforeId: query.before } : {}),
        limit,
      });
      return {
        items: rows.map((r) => planView(r.plan, r)),
        nextBefore: rows.length === limit ? rows[rows.length - 1]!.plan.id : null,
      };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/plans/{id}',
    operationId: 'getPatchPlan',
    summary: 'A patch plan with its items (server, ring, package, versions, CVEs) and its policy snapshot',
    tag: 'patching',
    permission: 'inventory:read',
    params: IdParam,
    response: PlanDetail,
    handler: async ({ params, deps, actor }) => {
      const { plan, items } = await getPlanFor(deps, actor, params.id);
      return {
        plan: planView(plan, countsOf(items)),
        policy: plan.policySnapshot,
        items: items.map((i) => itemView(plan, i)),
      };
    },
  }),
];
