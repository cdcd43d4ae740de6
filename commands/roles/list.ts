import type { ListItem } from '../../bot/chat/model.js';
import { listBindingsWithProjects } from '../../storage/users.js';
import { ROLE_PERMISSIONS } from '../rbac/roles.js';
import type { CommandSpec } from '../registry.js';

/** `roles`: the caller's role bindings and what each one lets them do. */
export const rolesCommand: CommandSpec = {
  path: ['roles'],
  usage: 'roles',
  summary: 'Show your roles, where they hold, and how to ask for another.',
  maxPositional: 0,
  async run(_args, ctx) {
    const bindings = await listBindingsWithProjects(ctx.deps.sql, ctx.actor.user.id);
    const items: ListItem[] = bindings.map((b) => ({
      text: `${b.role} ${b.projectSlug ? `on ${b.projectSlug}` : 'on every project'}`,
      detail: b.role === 'admin' ? 'every permission' : ROLE_PERMISSIONS[b.role].join(', '),
    }));
    return {
      reply: {
        visibility: 'private',
        header: bindings.length ? `Your roles (${bindings.length})` : 'You have no roles yet',
        ...(items.length ? { items } : {}),
        context: ['Ask for another with `role request <role> on <project> reason "…"`.'],
      },
    };
  },
};
