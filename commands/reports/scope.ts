import { getProjectBySlug, listProjects } from '../../storage/inventory.js';
import type { Deps } from '../deps.js';
import { projectNotFound } from '../inventory/projects.js';
import { projectsWith } from '../inventory/scope.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import type { Permission } from '../rbac/roles.js';

/**
 * Which projects a report covers: the one asked for (the actor must hold the permission there),
 * or every project where the actor holds it (null: all, through a global binding).
 */
export interface ReportScope {
  projectIds: number[] | null;
  slugs: string[] | 'all';
}

export async function reportScope(
  deps: Deps,
  actor: Actor,
  permission: Permission,
  projectSlug: string | undefined,
): Promise<ReportScope> {
  if (projectSlug !== undefined) {
    const project = await getProjectBySlug(deps.sql, projectSlug);
    if (!project) throw projectNotFound(projectSlug);
    authorize(actor, permission, project);
    return { projectIds: [project.id], slugs: [project.slug] };
  }
  const ids = projectsWith(actor, permission);
  if (ids === null) return { projectIds: null, slugs: 'all' };
  // Holds it nowhere: the same forbidden error as asking globally.
  if (ids.length === 0) authorize(actor, permission, null);
  const projects = await listProjects(deps.sql, { projectIds: ids });
  return { projectIds: ids, slugs: projects.map((p) => p.slug) };
}
