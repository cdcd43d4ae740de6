import { AppError } from '../../lib/errors.js';
import { listProjects } from '../../storage/inventory.js';
import { projectsWithCve } from '../../storage/patching-work.js';
import type { Deps } from '../deps.js';
import { projectsWith } from '../inventory/scope.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import { type BuildOutcome, type BuildPlanMeta, buildPlan, CVE_PATTERN, preparePlan } from './build.js';

/**
 * `patch cve <CVE-id>`, out of cycle: one plan per project (among those the caller may plan) with
 * every server where the CVE is pending. Projects with stale servers are rescanned first, since a
 * stale server may have the CVE without Warden knowing yet. Each plan goes through the usual
 * approval and, once approved, runs at once (the policy's immediate window).
 */
export interface CvePlanResult {
  cve: string;
  results: { project: string; outcome?: BuildOutcome; error?: string }[];
}

export function normalizeCve(text: string): string {
  const cve = String(text ?? '')
    .trim()
    .toUpperCase();
  if (!CVE_PATTERN.test(cve)) {
    throw new AppError(
      'bad_request',
      `${JSON.stringify(cve.slice(0, 40))} is not a CVE id; write it like CVE-2024-3094`,
    );
  }
  return cve;
}

export async function planCve(
  deps: Deps,
  actor: Actor,
  input: { cve: string },
  meta: BuildPlanMeta = {},
): Promise<CvePlanResult> {
  const cve = normalizeCve(input.cve);
  const ids = projectsWith(actor, 'patch:plan');
  if (ids !== null && ids.length === 0) authorize(actor, 'patch:plan', null);
  const affected = new Set((await projectsWithCve(deps.sql, cve, ids)).map((p) => p.slug));
  const projects = (await listProjects(deps.sql, { projectIds: ids })).filter((p) => p.serverCount > 0);
  const results: CvePlanResult['results'] = [];
  for (const project of projects) {
    try {
      const prepared = await preparePlan(deps, actor, { project: project.slug, kind: 'cve', cve });
      // Nothing pending here and nothing stale that could hide it: no plan to build.
      if (!affected.has(project.slug) && prepared.stale.length === 0) continue;
      const outcome = await buildPlan(
        deps,
        actor,
        { project: project.slug, kind: 'cve', cve },
        meta,
        prepared,
      );
      if (outcome.outcome === 'empty' && !affected.has(project.slug)) continue;
      results.push({ project: project.slug, outcome });
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      results.push({ project: project.slug, error: error.message });
    }
  }
  return { cve, results };
}
