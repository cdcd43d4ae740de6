import type { types } from '@slack/bolt';
import type { Deps } from '../../commands/deps.js';
import { listProjects } from '../../commands/inventory/projects.js';
import { listServers } from '../../commands/inventory/servers.js';
import { type Actor, loadActor } from '../../commands/rbac/authorize.js';
import { resolveUser } from '../../commands/router.js';
import { isAppError } from '../../lib/errors.js';
import type { Ack } from './handlers.js';
import { slackUser } from './handlers.js';
import { MODAL_LIMITS } from './modals.js';
import { BlockSuggestion } from './parse.js';
import { cut } from './render.js';
import type { SlackContext } from './respond.js';

/**
 * Options for external selects as the user types (the server picker in a modal). Only servers
 * and projects the user may read are offered: the lists come from commands/, which enforces RBAC.
 */

/** How many servers are searched; a larger fleet is narrowed by typing more of the name. */
const SEARCH_WINDOW = 500;

/** What an AppError (no inventory:read anywhere) leaves: nothing to offer. */
async function orNothing<T>(work: Promise<T[]>): Promise<T[]> {
  try {
    return await work;
  } catch (error) {
    if (!isAppError(error)) throw error;
    return [];
  }
}

function byQuery(names: string[], query: string): string[] {
  return names
    .filter((name) => name.length <= MODAL_LIMITS.optionValue && name.toLowerCase().includes(query))
    .sort((a, b) => Number(!a.toLowerCase().startsWith(query)) - Number(!b.toLowerCase().startsWith(query)));
}

function option(text: string, value: string): types.PlainTextOption {
  return { text: { type: 'plain_text', text: cut(text, MODAL_LIMITS.optionText) }, value };
}

/**
 * Servers first, then projects: the forms with a server field (access requests, script runs) take
 * a project as well, meaning every server in it, and in Slack the picker is the only way to give
 * one. A project whose slug is also a server's name is left out: the commands read it as the server.
 */
async function suggestions(deps: Deps, actor: Actor, query: string): Promise<types.PlainTextOption[]> {
  const servers = await orNothing(
    listServers({ limit: SEARCH_WINDOW }, deps, actor).then((page) => page.items.map((s) => s.name)),
  );
  const projects = await orNothing(listProjects({}, deps, actor).then((rows) => rows.map((p) => p.slug)));
  const taken = new Set(servers);
  return [
    ...byQuery(servers, query).map((name) => option(name, name)),
    ...byQuery(
      projects.filter((slug) => !taken.has(slug)),
      query,
    ).map((slug) => option(`${slug} (project: every server)`, slug)),
  ].slice(0, MODAL_LIMITS.options);
}

export async function onOptions(ctx: SlackContext, body: unknown, ack: Ack): Promise<void> {
  const parsed = BlockSuggestion.safeParse(body);
  if (!parsed.success || parsed.data.action_id !== 'server') return ack({ options: [] });
  const { user, value } = parsed.data;
  const who = await slackUser(ctx, user.id, user.username ?? user.name);
  const warden = 'user' in who ? await resolveUser(ctx.deps, who.user) : undefined;
  if (!warden || warden.disabled) return ack({ options: [] });
  const actor = await loadActor(ctx.deps.sql, warden, 'slack');
  return ack({ options: await suggestions(ctx.deps, actor, value.trim().toLowerCase()) });
}
