import { createRegistry } from '../../commands/index.js';
import type { ActionSpec, CommandSpec, FormSpec, Registry } from '../../commands/registry.js';
import type { Sql } from '../../storage/db.js';
import { addIdentity, bindRole, createUser } from '../../storage/users.js';

/**
 * Test support for the console tests: seeded users and a registry with a few commands of the
 * tests' own (a button that replaces its message, a form, a reply full of HTML).
 */
export const XSS_HEADER = '<img src=x onerror=alert(1)>';

export async function seedConsoleWorld(
  sql: Sql,
): Promise<{ projectId: number; aliceId: number; bobId: number }> {
  const [project] = await sql<{ id: number }[]>`
    insert into projects (slug, name, channels) values ('demo', 'Demo', ${sql.json({ console: 'demo' })})
    returning id`;
  await sql`insert into projects (slug, name) values ('quiet', 'Quiet')`;
  const alice = await createUser(sql, { handle: 'alice', displayName: 'Alice' });
  await addIdentity(sql, { userId: alice.id, platform: 'console', externalId: 'alice' });
  await bindRole(sql, { userId: alice.id, role: 'operator', projectId: project!.id });
  const bob = await createUser(sql, { handle: 'bob', displayName: 'Bob' });
  await addIdentity(sql, { userId: bob.id, platform: 'console', externalId: 'bob' });
  await bindRole(sql, { userId: bob.id, role: 'admin', projectId: null });
  return { projectId: project!.id, aliceId: alice.id, bobId: bob.id };
}

const testCommands: CommandSpec[] = [
  {
    path: ['test', 'button'],
    usage: 'test button',
    summary: 'Post a message with a button that replaces it.',
    maxPositional: 0,
    async run() {
      return {
        reply: {
          visibility: 'public',
          header: 'Pending test',
          text: 'Click to replace this message.',
          buttons: [{ label: 'Replace me', actionId: 'test.replace', value: '42', style: 'primary' }],
        },
      };
    },
  },
  {
    path: ['test', 'form'],
    usage: 'test form',
    summary: 'Open a form.',
    maxPositional: 0,
    async run() {
      return {
        reply: {
          visibility: 'private',
          form: {
            id: 'test-form',
            title: 'Name a server',
            submitLabel: 'Send it',
            state: 'opaque-state',
            fields: [{ id: 'name', label: 'Server', kind: 'text', required: true }],
          },
        },
      };
    },
  },
  {
    path: ['test', 'xss'],
    usage: 'test xss',
    summary: 'A reply full of HTML that must show as text.',
    maxPositional: 0,
    async run() {
      return {
        reply: {
          visibility: 'public',
          header: XSS_HEADER,
          text: '<script>window.__xss = 1</script><b>bold?</b>',
          fields: [{ label: '<i>label</i>', value: '<img src=y onerror=alert(2)>' }],
          items: [{ text: '<u>item</u>', detail: '"quoted" & <tag>' }],
          context: ['<a href="javascript:alert(3)">ctx</a>'],
          buttons: [{ label: '<b>link</b>', actionId: 'test.link', value: '', url: 'javascript:alert(4)' }],
        },
      };
    },
  },
];

const testActions: ActionSpec[] = [
  {
    prefix: 'test.',
    async run(action, ctx) {
      return {
        replaceOriginal: {
          visibility: 'public',
          header: 'Done',
          text: `Replaced by @${ctx.actor.user.handle} (value ${action.value}).`,
          tone: 'success',
        },
      };
    },
  },
];

const testForms: FormSpec[] = [
  {
    prefix: 'test-form',
    async run(form) {
      return {
        reply: { visibility: 'private', text: `Got ${form.values.name} with state ${form.state ?? 'none'}.` },
      };
    },
  },
];

/** The real registry plus the tests' own commands. */
export function consoleTestRegistry(): Registry {
  const registry = createRegistry();
  return {
    commands: [...registry.commands, ...testCommands],
    actions: [...registry.actions, ...testActions],
    forms: [...registry.forms, ...testForms],
  };
}
