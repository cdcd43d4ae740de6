import { AppError } from '../../lib/errors.js';
import { getProjectBySlug } from '../../storage/inventory.js';
import { getPlanRow, listPlanItems, type PlanStatus } from '../../storage/patching.js';
import { countPlanItems, listPlanRows } from '../../storage/patching-work.js';
import type { Deps } from '../deps.js';
import { projectNotFound } from '../inventory/projects.js';
import { holdsAnywhere, projectsWith } from '../inventory/scope.js';
import { type Actor, authorize, can } from '../rbac/authorize.js';
import type { PatchPlan, PatchPlanItem } from './plans.js';

/** Reading plans (chat and API): inventory:read on the plan's project. */
export interface PlanListEntry {
  plan: PatchPlan;
  servers: number;
  packages: number;
  excluded: number;
}

export const MAX_PLAN_PAGE = 100;

export function parsePlanId(text: string): number {
  const id = Number(
    String(text ?? '')
      .trim()
      .replace(/^#/, ''),
  );
  if (!Number.isSafeInteger(id) || id < 1) {
    throw new AppError(
      'bad_request',
      `${JSON.stringify(String(text).slice(0, 20))} is not a plan number; type \`patch plans\` to see them`,
    );
  }
  return id;
}

export async function listPlans(
  deps: Deps,
  actor: Actor,
  filter: { project?: string; status?: PlanStatus; beforeId?: number; limit?: number },
): Promise<PlanListEntry[]> {
  let projectId: number | undefined;
  if (filter.project !== undefined) {
    const project = await getProjectBySlug(deps.sql, filter.project.trim().toLowerCase().slice(0, 63));
    if (!project) {
      if (!holdsAnywhere(actor, 'inventory:read')) authorize(actor, 'inventory:read', null);
      throw projectNotFound(filter.project.slice(0, 63));
    }
    authorize(actor, 'inventory:read', project);
    projectId = project.id;
  }
  const ids = projectsWith(actor, 'inventory:read');
  if (ids !== null && ids.length === 0) authorize(actor, 'inventory:read', null);
  const plans = await listPlanRows(deps.sql, {
    projectIds: ids,
    ...(projectId !== undefined ? { projectId } : {}),
    ...(filter.status ? { status: filter.status } : {}),
    ...(filter.beforeId !== undefined ? { beforeId: filter.beforeId } : {}),
    limit: Math.min(Math.max(filter.limit ?? 25, 1), MAX_PLAN_PAGE),
  });
  const counts = await countPlanItems(
    deps.sql,
    plans.map((p) => p.id),
  );
  return plans.map((plan) => ({ plan, servers: 0, packages: 0, excluded: 0, ...counts.get(plan.id) }));
}

/** A plan and its items, or not_found (also when the caller may not read its project). */
export async function getPlanFor(
  deps: Deps,
  actor: Actor,
  id: number,
): Promise<{ plan: PatchPlan; items: PatchPlanItem[] }> {
  const plan = await getPlanRow(deps.sql, id);
  if (!plan || !can(actor, 'inventory:read', plan.projectId)) {
    if (!holdsAnywhere(actor, 'inventory:read')) authorize(actor, 'inventory:read', null);
    throw new AppError(
      'not_found',
      `patch plan #${id} does not exist (or is in a project you cannot read); type \`patch plans\``,
    );
  }
  return { plan, items: await listPlanItems(deps.sql, id) };
}
