import { openChangeRequest } from '../../integrations/tickets/subjects.js';
import { AppError } from '../../lib/errors.js';
import { withTx } from '../../storage/db.js';
import { getProjectBySlug, type Project } from '../../storage/inventory.js';
import {
  getPlanRow,
  insertPlan,
  insertPlanItems,
  listPlanItems,
  lockLivePlan,
  type PlanKind,
  type PlanNotes,
  updatePlan,
} from '../../storage/patching.js';
import { listServerScanStates, type ServerScanState } from '../../storage/scans.js';
import { approvalPolicy } from '../approvals/policy.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { projectNotFound } from '../inventory/projects.js';
import { actorFacts, actorRef, type CallMeta, holdsAnywhere, pgErrorCode } from '../inventory/scope.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import { type RunBatchOptions, runScanBatch } from '../scanning/run-scan.js';
import { createScanBatch, MAX_BATCH_SERVERS } from '../scanning/scan.js';
import { scanSchedule, stalenessOf } from '../scanning/settings.js';
import { planHash } from './hash.js';
import { openPlanApprovals } from './open.js';
import { endPlan, getPatchPolicy, type PatchPlan, type PatchPlanItem } from './plans.js';
import type { PatchPolicy } from './policy.js';
import { planDescription, planMessage, planSubject, planTitle, summarize } from './render.js';
import { selectFromDatabase } from './select.js';
import { nextWindow } from './windows.js';

/**
 * `patch plan <project>` (and `patch run <project> now`, one project of `patch cve`): rescan
 * every server whose last good result is stale and wait for it (stale results are never
 * trusted), select the findings the policy wants on the fresh servers, place servers in rings,
 * pin it all by a hash, and post it for approval with its change request. Building the same plan
 * again changes nothing; a different one supersedes the live plan of the project (and kind).
 */
export interface BuildPlanInput {
  project: string;
  kind?: PlanKind;
  /** For kind 'cve'. */
  cve?: string;
  /** Leave excluded packages out instead of asking for their secondary approval. */
  skipExcluded?: boolean;
}

export interface BuildPlanMeta extends CallMeta {
  /** Options of the rescan (tests pass scripted targets). */
  run?: RunBatchOptions;
}

export type BuildOutcome =
  | {
      outcome: 'created';
      plan: PatchPlan;
      items: PatchPlanItem[];
      superseded: number | null;
      rescanned: number;
    }
  | { outcome: 'unchanged'; plan: PatchPlan; items: PatchPlanItem[]; rescanned: number }
  | { outcome: 'empty'; project: string; reason: string; notes: PlanNotes; rescanned: number };

export interface PreparedPlan {
  project: Project;
  policy: PatchPolicy;
  kind: PlanKind;
  cve: string | null;
  skipExcluded: boolean;
  /** Servers of the project whose last good scan is stale (or missing): rescanned first. */
  stale: ServerScanState[];
}

export const CVE_PATTERN = /^CVE-\d{4}-\d{4,9}$/;

function via(actor: Actor): 'chat' | 'api' | 'cli' | 'schedule' {
  if (actor.via === 'api' || actor.via === 'cli') return actor.via;
  return actor.via === 'job' ? 'schedule' : 'chat';
}

async function staleServers(
  deps: Deps,
  project: Project,
): Promise<{ all: ServerScanState[]; stale: ServerScanState[] }> {
  const now = deps.clock.now();
  const schedule = scanSchedule(project, now);
  const all = await listServerScanStates(deps.sql, {
    projectIds: null,
    projectId: project.id,
    limit: MAX_BATCH_SERVERS,
  });
  return { all, stale: all.filter((s) => stalenessOf(s.lastGoodScanAt, schedule, now).stale) };
}

/** The checks that need no scan: the project, the permission, the policy and its windows. */
export async function preparePlan(deps: Deps, actor: Actor, input: BuildPlanInput): Promise<PreparedPlan> {
  const slug = String(input.project ?? '')
    .trim()
    .toLowerCase();
  const project = slug.length <= 63 ? await getProjectBySlug(deps.sql, slug) : undefined;
  if (!project) {
    if (!holdsAnywhere(actor, 'patch:plan')) authorize(actor, 'patch:plan', null);
    throw projectNotFound(String(input.project ?? '').slice(0, 63));
  }
  authorize(actor, 'patch:plan', project);
  const kind = input.kind ?? 'scheduled';
  const cve = kind === 'cve' ? String(input.cve ?? '').toUpperCase() : null;
  if (kind === 'cve' && !CVE_PATTERN.test(cve ?? '')) {
    throw new AppError('bad_request', 'a CVE plan needs a CVE id like CVE-2024-3094');
  }
  const { policy } = await getPatchPolicy(deps.sql, project.id);
  if (kind === 'scheduled' && !nextWindow(policy.windows, deps.clock.now())) {
    throw new AppError(
      'bad_request',
      `the patch policy of ${project.slug} has no maintenance window ahead. Add one (PUT /api/v1/projects/${project.slug}/patch-policy with windows: [{ "cron": "0 2 * * 6", "timezone": "UTC", "durationMinutes": 120 }]) or patch at once with \`patch run ${project.slug} now\`.`,
    );
  }
  const { all, stale } = await staleServers(deps, project);
  if (all.length === 0) {
    throw new AppError('bad_request', `project ${project.slug} has no servers to patch yet`);
  }
  return { project, policy, kind, cve, skipExcluded: input.skipExcluded === true, stale };
}

async function rescan(
  deps: Deps,
  actor: Actor,
  prepared: PreparedPlan,
  meta: BuildPlanMeta,
): Promise<number> {
  const { project, stale } = prepared;
  const batch = await withTx(deps.sql, (tx) =>
    createScanBatch(tx, deps, {
      kind: 'project',
      value: project.slug,
      projectId: project.id,
      servers: stale.map((s) => ({ id: s.serverId })),
      triggeredBy: via(actor),
      requestedBy: actor.user.id,
      requestedRef: actorRef(actor),
      data: { ...actorFacts(actor), reason: 'patch plan: stale results are rescanned before planning' },
      ...(meta.requestId ? { requestId: meta.requestId } : {}),
    }),
  );
  deps.kickOutbox?.();
  await runScanBatch(deps, batch.id, meta.run ?? {});
  return batch.id;
}

/**
 * @example
 * const built = await buildPlan(deps, actor, { project: 'shop' });
 * if (built.outcome === 'created') console.log(built.plan.id, built.plan.hash);
 */
export async function buildPlan(
  deps: Deps,
  actor: Actor,
  input: BuildPlanInput,
  meta: BuildPlanMeta = {},
  prepared?: PreparedPlan,
): Promise<BuildOutcome> {
  const p = prepared ?? (await preparePlan(deps, actor, input));
  const rescanBatchId = p.stale.length > 0 ? await rescan(deps, actor, p, meta) : undefined;
  const { all, stale } = await staleServers(deps, p.project);
  const stillStale = new Set(stale.map((s) => s.serverId));
  const notes: PlanNotes = {
    consideredServerIds: all.filter((s) => !stillStale.has(s.serverId)).map((s) => s.serverId),
    notPlanned: stale.map((s) => ({
      server: s.serverName,
      reason:
        s.lastScanStatus === 'failed'
          ? `its scan failed (${s.lastErrorKind ?? 'error'}), so its results are stale`
          : 'no fresh scan result',
    })),
    ...(rescanBatchId ? { rescanBatchId } : {}),
  };
  const now = deps.clock.now();
  const selection = await selectFromDatabase(deps.sql, {
    policy: p.policy,
    kind: p.kind,
    cve: p.cve,
    skipExcluded: p.skipExcluded,
    now,
    serverIds: notes.consideredServerIds!,
  });
  Object.assign(notes, {
    ...selection.notes,
    notPlanned: [...notes.notPlanned!, ...selection.notes.notPlanned],
  });
  const window = p.kind === 'scheduled' ? nextWindow(p.policy.windows, now) : undefined;
  notes.tentativeWindow = window
    ? {
        start: window.start.toISOString(),
        end: window.end.toISOString(),
        cutoffAt: window.cutoffAt.toISOString(),
        timezone: window.timezone,
        label: window.label,
      }
    : null;
  const rescanned = p.stale.length;
  const ref = actorRef(actor);
  const hash = planHash(
    { projectId: p.project.id, kind: p.kind, cve: p.cve, policySnapshot: p.policy },
    selection.items,
  );

  const result = await withTx(deps.sql, async (tx): Promise<BuildOutcome> => {
    const live = await lockLivePlan(tx, { projectId: p.project.id, kind: p.kind, cve: p.cve });
    if (live?.status === 'running') {
      throw new AppError(
        'conflict',
        `patch plan #${live.id} of ${p.project.slug} is running; build the next one when it has finished`,
      );
    }
    if (selection.items.length === 0) {
      if (live)
        await endPlan(tx, deps, live, 'superseded', ref, {
          reason: 'nothing it would install is pending any more',
        });
      return {
        outcome: 'empty',
        project: p.project.slug,
        reason: 'nothing pending matches the policy',
        notes,
        rescanned,
      };
    }
    if (live && live.hash === hash) {
      return { outcome: 'unchanged', plan: live, items: await listPlanItems(tx, live.id), rescanned };
    }
    // The old plan leaves the project's slot before the new one takes it (one live plan per slot).
    if (live) await endPlan(tx, deps, live, 'superseded', ref, { reason: 'a newer plan was built' });
    const id = await insertPlan(tx, {
      projectId: p.project.id,
      status: 'awaiting-approval',
      kind: p.kind,
      cve: p.cve,
      hash,
      createdBy: actor.user.id,
      createdRef: ref,
      at: now,
      policySnapshot: p.policy,
      notes,
      skipExcluded: p.skipExcluded,
    });
    await insertPlanItems(tx, id, selection.items);
    if (live) await updatePlan(tx, live.id, undefined, { at: now, supersededBy: id });
    const plan = (await getPlanRow(tx, id))!;
    const items = await listPlanItems(tx, id);
    const summary = summarize(plan, items);
    await openChangeRequest(tx, deps, {
      subject: planSubject(id),
      summary: planTitle(plan, summary),
      description: planDescription(plan, items),
      actor: ref,
      projectId: p.project.id,
    });
    await recordEvent(
      tx,
      deps,
      {
        actor: ref,
        action: 'patch.plan.created',
        subject: planSubject(id),
        projectId: p.project.id,
        data: {
          planId: id,
          kind: p.kind,
          cve: p.cve,
          hash,
          servers: summary.servers,
          packages: summary.packages,
          excluded: summary.excluded,
          refused: notes.refused?.length ?? 0,
          supersedes: live?.id ?? null,
          ...actorFacts(actor),
        },
        ...(meta.requestId ? { requestId: meta.requestId } : {}),
      },
      [
        {
          kind: 'subject-message',
          subject: planSubject(id),
          projectId: p.project.id,
          reply: planMessage(plan, items, deps.config.publicUrl),
        },
      ],
    );
    const approvals = await openPlanApprovals(tx, deps, {
      plan,
      items,
      summary,
      requester: actor,
      approvalPolicy: approvalPolicy(p.project),
    });
    await updatePlan(tx, id, undefined, { at: now, ...approvals });
    return {
      outcome: 'created',
      plan: (await getPlanRow(tx, id))!,
      items,
      superseded: live?.id ?? null,
      rescanned,
    };
  }).catch((error: unknown) => {
    if (pgErrorCode(error) === '23505') {
      throw new AppError(
        'conflict',
        `another plan for ${p.project.slug} was built at the same moment; type \`patch plans ${p.project.slug}\``,
      );
    }
    throw error;
  });
  deps.kickOutbox?.();
  return result;
}
