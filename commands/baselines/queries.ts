import { AppError } from '../../lib/errors.js';
import {
  type BaselineRunRow,
  type BaselineStateWithServer,
  lastBaselineRun,
  listBaselineStates,
} from '../../storage/baselines.js';
import { getProjectById, getProjectBySlug, getServerByName, type Server } from '../../storage/inventory.js';
import type { Deps } from '../deps.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import { type BaselineRunOutcome, runBaseline } from './run.js';

/** What chat and the API read and start: a server's or project's baseline state, a run now. */
export interface BaselineStatus {
  scope: { kind: 'server' | 'project'; name: string };
  states: BaselineStateWithServer[];
  /** For a server: its last run. */
  lastRun: BaselineRunRow | null;
}

async function projectOf(deps: Deps, server: Server) {
  return server.projectId === null ? null : ((await getProjectById(deps.sql, server.projectId)) ?? null);
}

export async function serverForBaseline(
  deps: Deps,
  actor: Actor,
  name: string,
  permission: 'compliance:read' | 'scan:run',
) {
  const server = await getServerByName(deps.sql, name);
  if (!server)
    throw new AppError('not_found', `there is no server called ${name}; type \`servers\` to list them`);
  authorize(actor, permission, await projectOf(deps, server));
  return server;
}

export async function baselineStatus(deps: Deps, actor: Actor, name: string): Promise<BaselineStatus> {
  const project = await getProjectBySlug(deps.sql, name);
  if (project) {
    authorize(actor, 'compliance:read', project);
    return {
      scope: { kind: 'project', name: project.slug },
      states: await listBaselineStates(deps.sql, { projectIds: [project.id] }),
      lastRun: null,
    };
  }
  const server = await getServerByName(deps.sql, name);
  if (!server) {
    throw new AppError(
      'not_found',
      `there is no server or project called ${name}; type \`servers\` or \`projects\``,
    );
  }
  authorize(actor, 'compliance:read', await projectOf(deps, server));
  return {
    scope: { kind: 'server', name: server.name },
    states: await listBaselineStates(deps.sql, { serverIds: [server.id] }),
    lastRun: (await lastBaselineRun(deps.sql, server.id)) ?? null,
  };
}

export async function runBaselineNow(
  deps: Deps,
  actor: Actor,
  name: string,
  triggeredBy: 'chat' | 'api',
): Promise<BaselineRunOutcome> {
  const server = await serverForBaseline(deps, actor, name, 'scan:run');
  if (server.os.family === 'windows') {
    throw new AppError('bad_request', `${server.name} runs Windows; the Linux baseline does not apply to it`);
  }
  return runBaseline(deps, server, { triggeredBy });
}
