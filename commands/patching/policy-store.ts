import { canonicalJson } from '../../lib/canonical-json.js';
import { withTx } from '../../storage/db.js';
import { getProjectBySlug, type Project } from '../../storage/inventory.js';
import { lockPendingPlansOfProject, lockPolicyRow, upsertPolicy } from '../../storage/patching.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { projectNotFound } from '../inventory/projects.js';
import { actorFacts, actorRef, type CallMeta, holdsAnywhere } from '../inventory/scope.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import type { Permission } from '../rbac/roles.js';
import { endPlan, getPatchPolicy, type StoredPolicy } from './plans.js';
import { DEFAULT_PATCH_POLICY, type PatchPolicy, parsePatchPolicy, policyHashParts } from './policy.js';

/**
 * Reading and writing a project's patch policy. Reading needs inventory:read on the project;
 * writing needs patch:plan, and a change to the exclusions (or to who may approve them) also needs
 * patch:approve-exclusion: the second group owns its list. A change that alters what a run would
 * do supersedes the project's plans that have not started: they need a new plan and approval.
 */
async function projectFor(deps: Deps, actor: Actor, slug: string, permission: Permission): Promise<Project> {
  const project = await getProjectBySlug(deps.sql, String(slug).trim().toLowerCase().slice(0, 63));
  if (!project) {
    if (!holdsAnywhere(actor, permission)) authorize(actor, permission, null);
    throw projectNotFound(String(slug).slice(0, 63));
  }
  authorize(actor, permission, project);
  return project;
}

export async function showPatchPolicy(
  deps: Deps,
  actor: Actor,
  input: { project: string },
): Promise<StoredPolicy & { project: Project }> {
  const project = await projectFor(deps, actor, input.project, 'inventory:read');
  return { project, ...(await getPatchPolicy(deps.sql, project.id)) };
}

export interface UpdatedPolicy {
  project: Project;
  policy: PatchPolicy;
  /** Plans superseded because what they would run changed. */
  superseded: number[];
}

function exclusionRules(policy: PatchPolicy): string {
  return canonicalJson({ exclusions: policy.exclusions, separate: policy.separateExclusionApprover });
}

export async function updatePatchPolicy(
  deps: Deps,
  actor: Actor,
  input: { project: string; policy: unknown },
  meta: CallMeta = {},
): Promise<UpdatedPolicy> {
  const project = await projectFor(deps, actor, input.project, 'patch:plan');
  const policy = parsePatchPolicy(input.policy);
  const ref = actorRef(actor);
  const superseded = await withTx(deps.sql, async (tx) => {
    const row = await lockPolicyRow(tx, project.id);
    const before = row ? parsePatchPolicy(row.policy) : DEFAULT_PATCH_POLICY;
    if (exclusionRules(before) !== exclusionRules(policy))
      authorize(actor, 'patch:approve-exclusion', project);
    await upsertPolicy(tx, { projectId: project.id, policy, at: deps.clock.now(), by: ref });
    const changed = Object.keys(policy).filter(
      (k) => canonicalJson(policy[k as keyof PatchPolicy]) !== canonicalJson(before[k as keyof PatchPolicy]),
    );
    await recordEvent(tx, deps, {
      actor: ref,
      action: 'patch.policy.updated',
      subject: { type: 'patch-policy', id: project.slug },
      projectId: project.id,
      data: { changed, ...actorFacts(actor) },
      ...(meta.requestId ? { requestId: meta.requestId } : {}),
    });
    const wanted = canonicalJson(policyHashParts(policy));
    const ended: number[] = [];
    for (const plan of await lockPendingPlansOfProject(tx, project.id)) {
      // Approval knobs (auto-approval, heads-up, exceptions) change no install; the run's do.
      if (canonicalJson(policyHashParts(plan.policySnapshot)) === wanted) continue;
      await endPlan(tx, deps, plan, 'superseded', ref, {
        reason: `the patch policy of ${project.slug} changed (${changed.join(', ')}); build a new plan for approval`,
      });
      ended.push(plan.id);
    }
    return ended;
  });
  deps.kickOutbox?.();
  return { project, policy, superseded };
}
