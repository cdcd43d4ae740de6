import { AppError } from '../../lib/errors.js';
import {
  getRun,
  getRunServerOutput,
  listRunServers,
  listRuns,
  type RunRow,
  type RunServerOutput,
  type RunServerRow,
} from '../../storage/script-runs.js';
import { getCurrentScriptVersion } from '../../storage/scripts.js';
import type { Deps } from '../deps.js';
import { type Actor, can } from '../rbac/authorize.js';
import type { Permission } from '../rbac/roles.js';

/**
 * Reading runs: who may see a run (its requester, auditors of its project, and whoever may run
 * its script there), its servers, and one server's full output.
 */
export function mayReadRun(actor: Actor, run: RunRow, permission: string | undefined): boolean {
  // An API token sees only what its scopes allow, even for runs its user started.
  if (run.requestedBy === actor.user.id && !actor.tokenScopes) return true;
  if (can(actor, 'audit:read', run.projectId) || can(actor, 'sop:manage', null)) return true;
  return permission !== undefined && can(actor, permission as Permission, run.projectId);
}

async function permissionOf(deps: Deps, run: RunRow): Promise<string | undefined> {
  return (await getCurrentScriptVersion(deps.sql, run.scriptName))?.permission;
}

export async function getRunFor(deps: Deps, actor: Actor, id: number): Promise<RunRow> {
  const run = Number.isSafeInteger(id) && id > 0 ? await getRun(deps.sql, id) : undefined;
  if (!run || !mayReadRun(actor, run, await permissionOf(deps, run))) {
    throw new AppError('not_found', `there is no run #${id} you may see`);
  }
  return run;
}

export async function getRunDetail(
  deps: Deps,
  actor: Actor,
  id: number,
): Promise<{ run: RunRow; servers: RunServerRow[] }> {
  const run = await getRunFor(deps, actor, id);
  return { run, servers: await listRunServers(deps.sql, id) };
}

/** One server's result with its whole output, as stored (up to the per-stream cap). */
export async function getRunOutput(
  deps: Deps,
  actor: Actor,
  id: number,
  server: string,
): Promise<RunServerOutput> {
  await getRunFor(deps, actor, id);
  const output = await getRunServerOutput(deps.sql, id, server);
  if (!output) throw new AppError('not_found', `run #${id} did not include a server named ${server}`);
  return output;
}

/** Runs newest first, only those the actor may see; `beforeId` pages back. */
export async function listRunsFor(
  deps: Deps,
  actor: Actor,
  filter: { script?: string; beforeId?: number; limit: number },
): Promise<{ items: RunRow[]; lastId: number | null }> {
  const rows = await listRuns(deps.sql, {
    ...(filter.script ? { scriptName: filter.script } : {}),
    projectIds: null,
    ...(filter.beforeId !== undefined ? { beforeId: filter.beforeId } : {}),
    limit: filter.limit,
  });
  const permissions = new Map<string, string | undefined>();
  const items: RunRow[] = [];
  for (const run of rows) {
    if (!permissions.has(run.scriptName)) permissions.set(run.scriptName, await permissionOf(deps, run));
    if (mayReadRun(actor, run, permissions.get(run.scriptName))) items.push(run);
  }
  // The page is cut by the rows read, not the rows shown, so the cursor always moves on.
  return { items, lastId: rows.length === filter.limit ? rows[rows.length - 1]!.id : null };
}
