import type { ListItem, Reply } from '../../bot/chat/model.js';
import { AppError } from '../../lib/errors.js';
import { closest, quoteForMessage } from '../grammar.js';
import type { Actor } from '../rbac/authorize.js';
import { canAnywhere } from '../rbac/authorize.js';
import type { CommandSpec, Registry } from '../registry.js';

/** Can the actor use this command somewhere? Commands without a permission are for everyone. */
export function mayUse(actor: Actor, spec: CommandSpec): boolean {
  return spec.permission === undefined || canAnywhere(actor, spec.permission);
}

function byGroupThenPath(a: CommandSpec, b: CommandSpec): number {
  // `help` first, then groups alphabetically, then the commands inside a group.
  if (a.path[0] === 'help') return -1;
  if (b.path[0] === 'help') return 1;
  return a.path.join(' ').localeCompare(b.path.join(' '));
}

function item(spec: CommandSpec): ListItem {
  return { text: `/warden ${spec.usage}`, detail: spec.summary };
}

/**
 * The help reply: every command the actor may use, grouped by first word; or, with a topic,
 * one command (`help access request`) or one group (`help access`).
 */
export function helpReply(
  actor: Actor,
  registry: Pick<Registry, 'commands'>,
  topic: readonly string[] = [],
): Reply {
  const words = topic.map((w) => w.toLowerCase());
  if (words.length === 0) {
    const usable = registry.commands.filter((s) => mayUse(actor, s)).sort(byGroupThenPath);
    const groups = [...new Set(usable.map((s) => s.path[0]!))];
    return {
      visibility: 'private',
      header: 'Warden commands',
      text: `Type /warden followed by a command. These are the ones you can use (${groups.join(', ')}):`,
      items: usable.map(item),
      context: [
        '/warden help <command> explains one command. Words in <angle brackets> are yours to fill in.',
      ],
    };
  }
  const exact = registry.commands.find(
    (s) => s.path.length === words.length && s.path.every((p, i) => p === words[i]),
  );
  if (exact) {
    const allowed = mayUse(actor, exact);
    return {
      visibility: 'private',
      header: `/warden ${exact.path.join(' ')}`,
      text: exact.summary,
      fields: [
        { label: 'Usage', value: `/warden ${exact.usage}` },
        ...(exact.keywords?.length ? [{ label: 'Keywords', value: exact.keywords.join(', ') }] : []),
        ...(exact.flags?.length ? [{ label: 'Flags', value: exact.flags.join(', ') }] : []),
      ],
      context: allowed
        ? undefined
        : [
            `You need the ${exact.permission} permission to use this; ask an admin for a role that grants it.`,
          ],
      tone: allowed ? undefined : 'warning',
    };
  }
  const group = registry.commands
    .filter((s) => s.path.length > words.length && words.every((w, i) => s.path[i] === w))
    .filter((s) => mayUse(actor, s))
    .sort(byGroupThenPath);
  if (group.length > 0) {
    return {
      visibility: 'private',
      header: `/warden ${words.join(' ')} commands`,
      items: group.map(item),
      context: ['/warden help <command> explains one command.'],
    };
  }
  const names = new Set(registry.commands.map((s) => s.path.join(' ')));
  const guess = closest(words.join(' '), names);
  const suggestion = guess ? ` Did you mean /warden help ${guess}?` : '';
  throw new AppError(
    'bad_request',
    `There is no command ${quoteForMessage(words.join(' '))}.${suggestion} Type /warden help to see the commands you can use.`,
  );
}

/**
 * The `help` command. It reads `registry` when it runs, so capabilities added to the registry
 * after it are listed too.
 */
export function createHelpCommand(registry: Pick<Registry, 'commands'>): CommandSpec {
  return {
    path: ['help'],
    usage: 'help [command]',
    summary: 'List the commands you can use, or explain one.',
    maxPositional: 4,
    async run(args, ctx) {
      return { reply: helpReply(ctx.actor, registry, args.positional) };
    },
  };
}
