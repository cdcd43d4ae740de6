import type { types } from '@slack/bolt';
import { listServers } from '../../commands/inventory/servers.js';
import { loadActor } from '../../commands/rbac/authorize.js';
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
 * the user may read are offered: the list comes from commands/, which enforces RBAC.
 */

/** How many servers are searched; a larger fleet is narrowed by typing more of the name. */
const SEARCH_WINDOW = 500;

export async function onOptions(ctx: SlackContext, body: unknown, ack: Ack): Promise<void> {
  const parsed = BlockSuggestion.safeParse(body);
  if (!parsed.success || parsed.data.action_id !== 'server') return ack({ options: [] });
  const { user, value } = parsed.data;
  const who = await slackUser(ctx, user.id, user.username ?? user.name);
  const warden = 'user' in who ? await resolveUser(ctx.deps, who.user) : undefined;
  if (!warden || warden.disabled) return ack({ options: [] });
  const actor = await loadActor(ctx.deps.sql, warden, 'slack');
  let names: string[];
  try {
    const page = await listServers({ limit: SEARCH_WINDOW }, ctx.deps, actor);
    names = page.items.map((s) => s.name);
  } catch (error) {
    if (!isAppError(error)) throw error;
    names = [];
  }
  const query = value.trim().toLowerCase();
  const matches = names
    .filter((name) => name.toLowerCase().includes(query))
    .sort((a, b) => Number(!a.toLowerCase().startsWith(query)) - Number(!b.toLowerCase().startsWith(query)))
    .slice(0, MODAL_LIMITS.options);
  const options: types.PlainTextOption[] = matches
    .filter((name) => name.length <= MODAL_LIMITS.optionValue)
    .map((name) => ({ text: { type: 'plain_text', text: cut(name, MODAL_LIMITS.optionText) }, value: name }));
  return ack({ options });
}
