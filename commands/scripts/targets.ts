import { AppError } from '../../lib/errors.js';
import {
  getProjectBySlug,
  getServerByName,
  getServersByNames,
  listServers,
  type Server,
} from '../../storage/inventory.js';
import type { ScopeKind } from '../../storage/script-runs.js';
import type { Deps } from '../deps.js';
import { quoteForMessage } from '../grammar.js';
import { SERVER_NAME_PATTERN } from '../inventory/schema.js';
import { projectsWith } from '../inventory/scope.js';
import { type Actor, can, rolesGranting } from '../rbac/authorize.js';
import type { Permission } from '../rbac/roles.js';

/**
 * Where a run goes and whether its caller may send it there: `<server|project|tag>` resolved to
 * servers, the script's permission checked on every project concerned, and server-list
 * parameters checked against what the caller may see.
 */
export const MAX_RUN_SERVERS = 5_000;

export interface ResolvedTargets {
  kind: ScopeKind;
  value: string;
  servers: Server[];
}

function nothingNamed(target: string): AppError {
  return new AppError(
    'not_found',
    `there is no server or project named ${quoteForMessage(target)}; type \`servers\` or \`projects\` to see them, or write tag:<key>=<value>`,
  );
}

/** The servers a target names. Tags may span projects; a bare word is a server first, then a project. */
export async function resolveRunTargets(deps: Deps, target: string): Promise<ResolvedTargets> {
  const text = target.trim();
  const match = /^(?:(server|project|tag):)?(.*)$/s.exec(text)!;
  const kind = match[1] as ScopeKind | undefined;
  const name = match[2]!;
  const limit = MAX_RUN_SERVERS + 1;
  if (kind === 'tag') {
    const tag = /^([A-Za-z0-9][A-Za-z0-9._/-]{0,62})(?:=([^\p{Cc}]{0,256}))?$/u.exec(name);
    if (!tag)
      throw new AppError(
        'bad_request',
        `${quoteForMessage(text)} is not a tag: write tag:<key> or tag:<key>=<value>`,
      );
    const servers = await listServers(deps.sql, {
      projectIds: null,
      tag: { key: tag[1]!, ...(tag[2] !== undefined ? { value: tag[2] } : {}) },
      limit,
    });
    return { kind: 'tag', value: name, servers };
  }
  if (!SERVER_NAME_PATTERN.test(name)) throw nothingNamed(text);
  if (kind !== 'project') {
    const server = await getServerByName(deps.sql, name);
    if (server) return { kind: 'server', value: server.name, servers: [server] };
  }
  if (kind !== 'server') {
    const project = await getProjectBySlug(deps.sql, name.toLowerCase());
    if (project) {
      const servers = await listServers(deps.sql, { projectIds: null, projectId: project.id, limit });
      return { kind: 'project', value: project.slug, servers };
    }
  }
  throw nothingNamed(text);
}

/** Refuse, naming every project where the actor lacks the script's permission. */
export function authorizeRun(
  actor: Actor,
  permission: Permission,
  script: string,
  servers: readonly Server[],
): void {
  const missing = new Set<string>();
  for (const s of servers) {
    if (!can(actor, permission, s.projectId))
      missing.add(s.projectSlug ? `project ${s.projectSlug}` : `${s.name} (in no project, so globally)`);
  }
  if (missing.size === 0) return;
  const where =
    [...missing].sort().slice(0, 5).join(', ') + (missing.size > 5 ? ` and ${missing.size - 5} more` : '');
  const roles = rolesGranting(permission).join(', ');
  const viaToken = actor.tokenScopes ? ' (or your API token is not scoped for it)' : '';
  throw new AppError(
    'forbidden',
    `you may not run ${script} there: it needs the ${permission} permission on ${where}${viaToken}. Ask an admin to bind you to one of these roles there: ${roles}.`,
    { details: { permission, where: [...missing].sort() } },
  );
}

/** Server-list parameters must name servers the caller may see. */
export async function checkServerLists(
  deps: Deps,
  actor: Actor,
  lists: Record<string, string[]>,
): Promise<void> {
  const issues: { path: string; message: string }[] = [];
  const readable = projectsWith(actor, 'inventory:read');
  for (const [param, names] of Object.entries(lists)) {
    const found = await getServersByNames(deps.sql, names);
    const visible = new Set(
      found
        .filter((s) => readable === null || (s.projectId !== null && readable.includes(s.projectId)))
        .map((s) => s.name),
    );
    const unknown = names.filter((n) => !visible.has(n));
    if (unknown.length > 0) {
      issues.push({
        path: `params.${param}`,
        message: `parameter ${param} names unknown servers: ${unknown.slice(0, 5).join(', ')}`,
      });
    }
  }
  if (issues.length > 0) {
    throw new AppError('bad_request', `${issues.map((i) => i.message).join('; ')}.`, { details: { issues } });
  }
}
