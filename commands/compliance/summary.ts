import { AppError } from '../../lib/errors.js';
import type { ComplianceState } from '../../storage/compliance.js';
import {
  countStatesByProject,
  listNotCompliant,
  type StateCounts,
  type StateRow,
} from '../../storage/compliance-digest.js';
import { getProjectBySlug } from '../../storage/inventory.js';
import type { Deps } from '../deps.js';
import { projectNotFound } from '../inventory/projects.js';
import { projectsWith } from '../inventory/scope.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import { buildDigest, postDigest } from './digest.js';
import { evaluateCompliance, loadStandards } from './evaluate.js';
import { fromStoredReasons, type Reason } from './rules.js';
import type { ComplianceStandards } from './standards.js';

/**
 * What `/warden compliance` (and the API and dashboard) read: per project counts, and for one
 * project every server that is not compliant with its reasons. Each answer is evaluated now,
 * so it never shows a stale state. Needs `compliance:read` on the project.
 */
export interface ProjectCompliance extends StateCounts {
  projectId: number | null;
  slug: string | null;
}

export interface ServerCompliance {
  server: string;
  owner: string | null;
  state: ComplianceState;
  since: Date;
  reasons: Reason[];
  openSecurity: number;
}

export interface ComplianceView {
  projects: ProjectCompliance[];
  /** Set when one project was asked for. */
  project?: { slug: string; standards: ComplianceStandards; servers: ServerCompliance[]; total: number };
}

const SERVER_LIMIT = 200;

function toServer(row: StateRow): ServerCompliance {
  return {
    server: row.serverName,
    owner: row.owner,
    state: row.state,
    since: row.since,
    reasons: fromStoredReasons(row.reasons),
    openSecurity: row.openSecurity,
  };
}

export async function complianceView(
  deps: Deps,
  actor: Actor,
  input: { project?: string; limit?: number } = {},
): Promise<ComplianceView> {
  if (input.project !== undefined) {
    const project = await getProjectBySlug(deps.sql, input.project);
    if (!project) throw projectNotFound(input.project);
    authorize(actor, 'compliance:read', project);
    await evaluateCompliance(deps, { projectId: project.id });
    const { byProject, fallback } = await loadStandards(deps.sql, deps.clock.now(), [project.id]);
    const limit = Math.min(Math.max(input.limit ?? SERVER_LIMIT, 1), 1_000);
    const [counts] = await countStatesByProject(deps.sql, [project.id]);
    const rows = await listNotCompliant(deps.sql, { projectId: project.id, order: 'worst', limit });
    return {
      projects: [{ ...(counts ?? emptyCounts()), projectId: project.id, slug: project.slug }],
      project: {
        slug: project.slug,
        standards: byProject.get(project.id)?.standards ?? fallback,
        servers: rows.map(toServer),
        total: rows[0]?.total ?? 0,
      },
    };
  }
  const ids = projectsWith(actor, 'compliance:read');
  if (ids !== null && ids.length === 0) authorize(actor, 'compliance:read', null);
  if (ids === null) await evaluateCompliance(deps);
  else for (const id of ids) await evaluateCompliance(deps, { projectId: id });
  const { byProject } = await loadStandards(deps.sql, deps.clock.now(), ids);
  const counts = await countStatesByProject(deps.sql, ids);
  return {
    projects: counts
      .filter((c) => ids === null || c.projectId !== null)
      .map((c) => ({
        ...c,
        slug: c.projectId === null ? null : (byProject.get(c.projectId)?.project.slug ?? null),
      })),
  };
}

function emptyCounts(): StateCounts {
  return { servers: 0, compliant: 0, nonCompliant: 0, unknown: 0, pendingSecurity: 0 };
}

/** Posts the project's digest to its channel now (outside the daily schedule). */
export async function sendDigestNow(deps: Deps, actor: Actor, slug: string): Promise<{ day: string }> {
  const project = await getProjectBySlug(deps.sql, slug);
  if (!project) throw projectNotFound(slug);
  authorize(actor, 'compliance:read', project);
  const { byProject } = await loadStandards(deps.sql, deps.clock.now(), [project.id]);
  const ps = byProject.get(project.id);
  if (!ps) throw new AppError('not_found', `project ${slug} was removed while the digest was being built`);
  const built = await buildDigest(deps, ps);
  await postDigest(deps, built, { kind: 'manual', actor: `user:${actor.user.handle}` });
  return { day: built.data.day };
}
