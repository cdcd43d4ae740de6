import type { ActionInteraction, CommandInteraction, Platform } from '../../bot/chat/model.js';
import type { Sql } from '../../storage/db.js';
import { bindRole, createUser, listBindings } from '../../storage/users.js';
import type { Deps } from '../deps.js';
import type { Actor } from '../rbac/authorize.js';
import type { Role } from '../rbac/roles.js';
import type { CommandContext, ParsedArgs } from '../registry.js';

/**
 * Builders for tests of anything that opens or decides approvals (role requests today, access
 * requests and patch plans later). Plain data, no test framework, so any test can use them.
 */

let counter = 0;
/** A handle unique within the test process, so tests sharing one database never collide. */
export function uniqueHandle(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid % 10_000}-${counter}`;
}

export async function createProjectRow(
  sql: Sql,
  slug: string,
  settings: Record<string, unknown> = {},
): Promise<{ id: number; slug: string }> {
  const [row] = await sql<{ id: number; slug: string }[]>`
    insert into projects (slug, name, settings) values (${slug}, ${slug}, ${sql.json(settings as never)})
    returning id, slug`;
  return row!;
}

/** A user with the given bindings (projectId null: global), loaded as an Actor. */
export async function createActor(
  sql: Sql,
  handle: string,
  bindings: readonly [Role, number | null][] = [],
  options: { disabled?: boolean; via?: Actor['via'] } = {},
): Promise<Actor> {
  const user = await createUser(sql, { handle, displayName: handle.replace(/-.*/, '').toUpperCase() });
  for (const [role, projectId] of bindings) await bindRole(sql, { userId: user.id, role, projectId });
  if (options.disabled) await sql`update users set disabled = true where id = ${user.id}`;
  return {
    user: { ...user, disabled: options.disabled ?? false },
    bindings: await listBindings(sql, user.id),
    via: options.via ?? 'console',
  };
}

export function parsedArgs(positional: string[] = [], keywords: Record<string, string> = {}): ParsedArgs {
  return {
    positional,
    options: {},
    keywords,
    flags: [],
    raw: [...positional, ...Object.entries(keywords).flat()].join(' '),
  };
}

export function commandContext(
  actor: Actor,
  deps: Deps,
  text = '',
  platform: Platform = 'console',
): CommandContext {
  const interaction: CommandInteraction = {
    kind: 'command',
    text,
    dedupeKey: uniqueHandle('cmd'),
    user: { platform, externalId: actor.user.handle },
    channel: 'test',
    receivedAt: deps.clock.now(),
  };
  return { actor, interaction, deps };
}

export function click(actor: Actor, deps: Deps, actionId: string, value: string): ActionInteraction {
  return {
    kind: 'action',
    actionId,
    value,
    dedupeKey: uniqueHandle('click'),
    user: { platform: 'console', externalId: actor.user.handle },
    channel: 'test',
    receivedAt: deps.clock.now(),
  };
}
