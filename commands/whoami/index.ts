import type { Field } from '../../bot/chat/model.js';
import { listBindingsWithProjects, listIdentities } from '../../storage/users.js';
import type { CommandSpec } from '../registry.js';

/** `whoami`: the caller's Warden handle, linked platform identities and roles per project. */
export const whoamiCommand: CommandSpec = {
  path: ['whoami'],
  usage: 'whoami',
  summary: 'Show your Warden user, your linked chat identities and your roles per project.',
  maxPositional: 0,
  async run(_args, ctx) {
    const { user } = ctx.actor;
    const [identities, bindings] = await Promise.all([
      listIdentities(ctx.deps.sql, user.id),
      listBindingsWithProjects(ctx.deps.sql, user.id),
    ]);
    const platforms = identities
      .filter((i) => i.platform !== 'api')
      .map((i) => `${i.platform}: ${i.externalId}${i.verified ? '' : ' (unverified)'}`);
    const fields: Field[] = [
      { label: 'Handle', value: `@${user.handle}` },
      { label: 'Name', value: user.displayName },
    ];
    if (user.email) fields.push({ label: 'E-mail', value: user.email });
    fields.push({ label: 'Platforms', value: platforms.length ? platforms.join('\n') : 'none linked' });
    return {
      reply: {
        visibility: 'private',
        header: `You are @${user.handle}`,
        fields,
        items: bindings.length
          ? bindings.map((b) => ({
              text: b.role,
              detail: b.projectSlug ? `on ${b.projectSlug}` : 'on every project',
            }))
          : [{ text: 'no roles yet', detail: 'ask an admin to bind you to a role on a project' }],
        context: [`Asking from ${ctx.actor.via}.`],
      },
    };
  },
};
