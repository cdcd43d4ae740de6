import type { z } from 'zod';
import { canonicalJson } from '../../lib/canonical-json.js';
import { AppError } from '../../lib/errors.js';
import { withTx } from '../../storage/db.js';
import {
  getProjectBySlug,
  insertProject,
  listProjects as listProjectRows,
  type Project,
  type ProjectWithCount,
  type ProjectWrite,
  updateProject as updateProjectRow,
} from '../../storage/inventory.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import { issuesFromZod, summarizeIssues } from './issues.js';
import { ProjectCreate, ProjectPatch } from './schema.js';
import { actorFacts, actorRef, type CallMeta, holdsAnywhere, pgErrorCode, projectsWith } from './scope.js';

/** Parse with a schema, or throw a bad_request that lists every problem. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = issuesFromZod(result.error.issues);
  throw new AppError('bad_request', `the ${what} is not valid: ${summarizeIssues(issues)}`, {
    details: { issues },
  });
}

/** The project, or a not_found that says how to list them. */
export function projectNotFound(slug: string): AppError {
  return new AppError(
    'not_found',
    `there is no project "${slug}"; list projects with GET /api/v1/projects or /warden projects`,
    { details: { project: slug } },
  );
}

export async function listProjects(
  _input: Record<string, never>,
  deps: Deps,
  actor: Actor,
): Promise<ProjectWithCount[]> {
  const ids = projectsWith(actor, 'inventory:read');
  if (ids !== null && ids.length === 0) authorize(actor, 'inventory:read', null);
  return listProjectRows(deps.sql, { projectIds: ids });
}

export async function getProject(input: { slug: string }, deps: Deps, actor: Actor): Promise<Project> {
  const project = await getProjectBySlug(deps.sql, input.slug);
  if (!project) {
    // Only someone who may read some inventory learns that a slug does not exist.
    if (!holdsAnywhere(actor, 'inventory:read')) authorize(actor, 'inventory:read', null);
    throw projectNotFound(input.slug);
  }
  authorize(actor, 'inventory:read', project);
  return project;
}

/** Create a project. Needs inventory:write globally: a project is a new scope for permissions. */
export async function createProject(input: unknown, deps: Deps, actor: Actor, meta: CallMeta = {}) {
  authorize(actor, 'inventory:write', null);
  const parsed = parseInput(ProjectCreate, input, 'project');
  const write: ProjectWrite = {
    slug: parsed.slug,
    name: parsed.name,
    description: parsed.description ?? '',
    channels: parsed.channels ?? {},
  };
  try {
    return await withTx(deps.sql, async (tx) => {
      if (await getProjectBySlug(tx, write.slug)) throw projectExists(write.slug);
      const project = await insertProject(tx, write, deps.clock.now());
      await recordEvent(tx, deps, {
        actor: actorRef(actor),
        action: 'project.created',
        subject: { type: 'project', id: project.slug },
        projectId: project.id,
        data: { ...actorFacts(actor), slug: project.slug, name: project.name, channels: project.channels },
        requestId: meta.requestId,
      });
      return project;
    });
  } catch (error) {
    // Two creators racing past the existence check: the unique index decides.
    if (pgErrorCode(error) === '23505') throw projectExists(write.slug);
    throw error;
  }
}

function projectExists(slug: string): AppError {
  return new AppError('conflict', `a project "${slug}" already exists; change it with PATCH instead`, {
    details: { project: slug },
  });
}

/** Apply a patch; fields left out stay as they are. Records what changed, and nothing when nothing did. */
export async function updateProject(
  input: { slug: string; patch: unknown },
  deps: Deps,
  actor: Actor,
  meta: CallMeta = {},
): Promise<Project> {
  const patch = parseInput(ProjectPatch, input.patch, 'project change');
  return withTx(deps.sql, async (tx) => {
    const current = await getProjectBySlug(tx, input.slug);
    if (!current) {
      if (!holdsAnywhere(actor, 'inventory:write')) authorize(actor, 'inventory:write', null);
      throw projectNotFound(input.slug);
    }
    authorize(actor, 'inventory:write', current);
    const next: ProjectWrite = {
      slug: current.slug,
      name: patch.name ?? current.name,
      description: patch.description ?? current.description,
      channels: patch.channels ?? current.channels,
    };
    const changes = projectChanges(current, next);
    if (Object.keys(changes).length === 0) return current;
    const project = await updateProjectRow(tx, current.id, next, deps.clock.now());
    await recordEvent(tx, deps, {
      actor: actorRef(actor),
      action: 'project.updated',
      subject: { type: 'project', id: project.slug },
      projectId: project.id,
      data: { ...actorFacts(actor), changes },
      requestId: meta.requestId,
    });
    return project;
  });
}

/** `{ field: { from, to } }` for every field that differs. */
export function projectChanges(current: ProjectWrite, next: ProjectWrite): Record<string, unknown> {
  const changes: Record<string, unknown> = {};
  for (const key of ['name', 'description', 'channels'] as const) {
    if (canonicalJson(current[key]) !== canonicalJson(next[key])) {
      changes[key] = { from: current[key], to: next[key] };
    }
  }
  return changes;
}
