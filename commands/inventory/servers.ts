import { AppError } from '../../lib/errors.js';
import { type Queryable, withTx } from '../../storage/db.js';
import {
  deleteServer as deleteServerRow,
  getProjectBySlug,
  getServerByName,
  insertServer,
  listServers as listServerRows,
  type Provider,
  type Server,
  updateServer as updateServerRow,
} from '../../storage/inventory.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { type Actor, authorize, type ProjectScope } from '../rbac/authorize.js';
import { type InputIssue, summarizeIssues } from './issues.js';
import { DEFAULT_PAGE_SIZE, decodeCursor, MAX_PAGE_SIZE, type Page, pageOf } from './paging.js';
import { parseInput, projectNotFound } from './projects.js';
import { ServerCreate, ServerPatch } from './schema.js';
import { actorFacts, actorRef, type CallMeta, holdsAnywhere, pgErrorCode, projectsWith } from './scope.js';
import {
  loadServerRefs,
  mergeServer,
  SERVER_DEFAULTS,
  serverAsInput,
  serverChanges,
  serverRefIssues,
} from './server-input.js';

function scopeOf(server: Server): ProjectScope | null {
  return server.projectId === null ? null : { id: server.projectId, slug: server.projectSlug ?? '' };
}

export function serverNotFound(name: string): AppError {
  return new AppError(
    'not_found',
    `there is no server "${name}"; list servers with GET /api/v1/servers or /warden servers`,
    { details: { server: name } },
  );
}

function serverExists(name: string): AppError {
  return new AppError('conflict', `a server "${name}" already exists; change it with PATCH instead`, {
    details: { server: name },
  });
}

/** Look up a server the actor may act on with `permission`; not_found only to those who could see some. */
async function loadServer(
  sql: Queryable,
  actor: Actor,
  name: string,
  permission: 'inventory:read' | 'inventory:write',
) {
  const server = await getServerByName(sql, name);
  if (!server) {
    if (!holdsAnywhere(actor, permission)) authorize(actor, permission, null);
    throw serverNotFound(name);
  }
  authorize(actor, permission, scopeOf(server));
  return server;
}

function refsError(issues: InputIssue[]): AppError {
  return new AppError(
    'bad_request',
    `the server refers to something that does not exist: ${summarizeIssues(issues)}`,
    {
      details: { issues },
    },
  );
}

export async function getServer(input: { name: string }, deps: Deps, actor: Actor): Promise<Server> {
  return loadServer(deps.sql, actor, input.name, 'inventory:read');
}

export interface ListServersInput {
  project?: string;
  /** `key` or `key=value`. */
  tag?: string;
  provider?: Provider;
  limit?: number;
  cursor?: string;
}

/** Servers the actor may read, by name, one page at a time. */
export async function listServers(input: ListServersInput, deps: Deps, actor: Actor): Promise<Page<Server>> {
  const ids = projectsWith(actor, 'inventory:read');
  if (ids !== null && ids.length === 0) authorize(actor, 'inventory:read', null);
  let projectId: number | undefined;
  if (input.project !== undefined) {
    const project = await getProjectBySlug(deps.sql, input.project);
    if (!project) throw projectNotFound(input.project);
    authorize(actor, 'inventory:read', project);
    projectId = project.id;
  }
  let tag: { key: string; value?: string } | undefined;
  if (input.tag !== undefined) {
    const eq = input.tag.indexOf('=');
    tag = eq < 0 ? { key: input.tag } : { key: input.tag.slice(0, eq), value: input.tag.slice(eq + 1) };
  }
  const limit = Math.min(Math.max(input.limit ?? DEFAULT_PAGE_SIZE, 1), MAX_PAGE_SIZE);
  const rows = await listServerRows(deps.sql, {
    projectIds: ids,
    projectId,
    tag,
    provider: input.provider,
    afterName: input.cursor === undefined ? undefined : decodeCursor<string>(input.cursor, 'string'),
    limit: limit + 1,
  });
  return pageOf(rows, limit, (last) => last.name);
}

export async function createServer(
  input: unknown,
  deps: Deps,
  actor: Actor,
  meta: CallMeta = {},
): Promise<Server> {
  const parsed = parseInput(ServerCreate, input, 'server');
  try {
    return await withTx(deps.sql, async (tx) => {
      const refs = await loadServerRefs(tx, [parsed]);
      const issues = serverRefIssues(parsed, refs);
      if (issues.length > 0) throw refsError(issues);
      authorize(actor, 'inventory:write', parsed.project ? refs.projects.get(parsed.project)! : null);
      if (await getServerByName(tx, parsed.name)) throw serverExists(parsed.name);
      const write = mergeServer({ name: parsed.name, ...SERVER_DEFAULTS }, parsed, refs);
      await insertServer(tx, write, deps.clock.now());
      const server = (await getServerByName(tx, parsed.name))!;
      await recordEvent(tx, deps, {
        actor: actorRef(actor),
        action: 'server.created',
        subject: { type: 'server', id: server.name },
        projectId: server.projectId,
        data: { ...actorFacts(actor), server: serverAsInput(server) },
        requestId: meta.requestId,
      });
      return server;
    });
  } catch (error) {
    if (pgErrorCode(error) === '23505') throw serverExists(parsed.name);
    throw error;
  }
}

/** Apply a patch; a move to another project needs inventory:write on both. */
export async function updateServer(
  input: { name: string; patch: unknown },
  deps: Deps,
  actor: Actor,
  meta: CallMeta = {},
): Promise<Server> {
  const patch = parseInput(ServerPatch, input.patch, 'server change');
  try {
    return await withTx(deps.sql, async (tx) => {
      const current = await loadServer(tx, actor, input.name, 'inventory:write');
      const refs = await loadServerRefs(tx, [patch]);
      const issues = serverRefIssues(patch, refs);
      if (issues.length > 0) throw refsError(issues);
      if (patch.project !== undefined && patch.project !== current.projectSlug) {
        authorize(actor, 'inventory:write', patch.project ? refs.projects.get(patch.project)! : null);
      }
      const changes = serverChanges(current, patch);
      if (Object.keys(changes).length === 0) return current;
      if (patch.name && patch.name !== current.name && (await getServerByName(tx, patch.name))) {
        throw serverExists(patch.name);
      }
      await updateServerRow(tx, current.id, mergeServer(current, patch, refs), deps.clock.now());
      const server = (await getServerByName(tx, patch.name ?? current.name))!;
      await recordEvent(tx, deps, {
        actor: actorRef(actor),
        action: 'server.updated',
        subject: { type: 'server', id: server.name },
        projectId: server.projectId,
        data: { ...actorFacts(actor), changes },
        requestId: meta.requestId,
      });
      return server;
    });
  } catch (error) {
    if (pgErrorCode(error) === '23505') throw serverExists(patch.name ?? input.name);
    throw error;
  }
}

export async function deleteServer(
  input: { name: string },
  deps: Deps,
  actor: Actor,
  meta: CallMeta = {},
): Promise<void> {
  try {
    await withTx(deps.sql, async (tx) => {
      const current = await loadServer(tx, actor, input.name, 'inventory:write');
      await deleteServerRow(tx, current.id);
      await recordEvent(tx, deps, {
        actor: actorRef(actor),
        action: 'server.deleted',
        subject: { type: 'server', id: current.name },
        projectId: current.projectId,
        data: { ...actorFacts(actor), server: serverAsInput(current) },
        requestId: meta.requestId,
      });
    });
  } catch (error) {
    if (pgErrorCode(error) === '23503') {
      throw new AppError(
        'conflict',
        `server "${input.name}" is still referenced (grants, keys or patch runs); end those first`,
        { cause: error, details: { server: input.name } },
      );
    }
    throw error;
  }
}
