import type { InteractionResult, ListItem } from '../../bot/chat/model.js';
import type { CommandSpec } from '../registry.js';
import { listProjects } from './projects.js';
import { listServers } from './servers.js';

/** "3d", "5h", "12m", "just now": how long ago `then` was. */
export function ageOf(then: Date, now: Date): string {
  const minutes = Math.floor((now.getTime() - then.getTime()) / 60_000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h`;
  return `${Math.floor(hours / 24)}d`;
}

/** At most this many lines in chat; the rest is a link to the API. */
const CHAT_LIST_LIMIT = 25;

export const serversCommand: CommandSpec = {
  path: ['servers'],
  usage: 'servers [project]',
  summary: 'List servers (all you may see, or one project’s) with their owners and ages',
  permission: 'inventory:read',
  maxPositional: 1,
  async run(args, ctx): Promise<InteractionResult> {
    const project = args.positional[0];
    const page = await listServers({ project, limit: CHAT_LIST_LIMIT }, ctx.deps, ctx.actor);
    const now = ctx.deps.clock.now();
    const items: ListItem[] = page.items.map((s) => ({
      text: `${s.name}${s.address ? ` (${s.address})` : ''}`,
      detail: [
        s.projectSlug ? `project ${s.projectSlug}` : 'no project',
        s.ownerHandle ? `owner ${s.ownerHandle}` : 'no owner',
        `added ${ageOf(s.createdAt, now)} ago`,
      ].join(' · '),
    }));
    const where = project ? ` in ${project}` : '';
    return {
      reply: {
        visibility: 'private',
        header: `Servers${where}`,
        ...(items.length > 0 ? { items } : { text: `No servers${where} yet.` }),
        ...(page.nextCursor
          ? {
              context: [`Showing the first ${CHAT_LIST_LIMIT}.`],
              moreUrl: `${ctx.deps.config.publicUrl}/api/v1/servers${project ? `?project=${encodeURIComponent(project)}` : ''}`,
            }
          : {}),
      },
    };
  },
};

export const projectsCommand: CommandSpec = {
  path: ['projects'],
  usage: 'projects',
  summary: 'List the projects you may see, with their server counts and ages',
  permission: 'inventory:read',
  maxPositional: 0,
  async run(_args, ctx): Promise<InteractionResult> {
    const projects = await listProjects({}, ctx.deps, ctx.actor);
    const now = ctx.deps.clock.now();
    const items: ListItem[] = projects.slice(0, CHAT_LIST_LIMIT).map((p) => ({
      text: `${p.slug} — ${p.name}`,
      detail: `${p.serverCount} server${p.serverCount === 1 ? '' : 's'} · created ${ageOf(p.createdAt, now)} ago`,
    }));
    return {
      reply: {
        visibility: 'private',
        header: 'Projects',
        ...(items.length > 0 ? { items } : { text: 'No projects yet.' }),
        ...(projects.length > CHAT_LIST_LIMIT
          ? {
              context: [`Showing ${CHAT_LIST_LIMIT} of ${projects.length}.`],
              moreUrl: `${ctx.deps.config.publicUrl}/api/v1/projects`,
            }
          : {}),
      },
    };
  },
};

/** The inventory's chat commands, for commands/index.ts. */
export const inventoryCommands: readonly CommandSpec[] = [serversCommand, projectsCommand];
