import { beforeAll, describe, expect, it } from 'vitest';
import type { CommandInteraction, Interaction, PlatformUser } from '../bot/chat/model.js';
import { AppError } from '../lib/errors.js';
import { createLogger } from '../lib/logger.js';
import { getInteraction } from '../storage/interactions.js';
import { addIdentity, bindRole, createUser, findUserByIdentity } from '../storage/users.js';
import { useTestDatabase } from '../test/db.js';
import { createTestDeps } from '../test/deps.js';
import { createRegistry } from './index.js';
import type { CommandSpec, ParsedArgs, Registry } from './registry.js';
import { handleInteraction } from './router.js';

const db = useTestDatabase('router');
let seq = 0;

const alice: PlatformUser = { platform: 'console', externalId: 'alice', displayName: 'Alice' };

function command(text: string, user: PlatformUser = alice, dedupeKey = `k${++seq}`): CommandInteraction {
  return {
    kind: 'command',
    text,
    user,
    channel: 'demo',
    dedupeKey,
    receivedAt: new Date('2026-01-05T09:00:00Z'),
  };
}

interface Probe {
  registry: Registry;
  calls: ParsedArgs[];
  statusSeenInside: string[];
}

function probeRegistry(deps: ReturnType<typeof createTestDeps>): Probe {
  const probe: Probe = { registry: createRegistry(), calls: [], statusSeenInside: [] };
  const specs: CommandSpec[] = [
    {
      path: ['probe'],
      usage: 'probe <word> [--loud]',
      summary: 'Records that it ran.',
      flags: ['--loud'],
      async run(args, ctx) {
        probe.calls.push(args);
        const [row] = await deps.sql<{ status: string }[]>`
          select status from interactions where dedupe_key = ${ctx.interaction.dedupeKey}`;
        probe.statusSeenInside.push(row?.status ?? 'missing');
        return { reply: { visibility: 'public', text: `ran ${args.positional.join(' ')}` } };
      },
    },
    {
      path: ['probe', 'refuse'],
      usage: 'probe refuse',
      summary: 'Throws an AppError.',
      async run() {
        throw new AppError('conflict', 'That server is already being patched; wait for the run to finish.');
      },
    },
    {
      path: ['probe', 'crash'],
      usage: 'probe crash',
      summary: 'Throws a plain error.',
      async run() {
        throw new Error('database password=hunter2 exploded');
      },
    },
    {
      path: ['audit', 'show'],
      usage: 'audit show <server>',
      summary: 'Needs audit:read.',
      permission: 'audit:read',
      async run() {
        return {};
      },
    },
    {
      path: ['scan'],
      usage: 'scan <server|project>',
      summary: 'Needs scan:run.',
      permission: 'scan:run',
      async run() {
        return {};
      },
    },
  ];
  (probe.registry.commands as CommandSpec[]).push(...specs);
  (probe.registry.actions as Registry['actions'][number][]).push(
    {
      prefix: 'probe.',
      run: async (a) => ({ replaceOriginal: { visibility: 'public', text: `short ${a.value}` } }),
    },
    {
      prefix: 'probe.long.',
      run: async (a) => ({ replaceOriginal: { visibility: 'public', text: `long ${a.value}` } }),
    },
  );
  (probe.registry.forms as Registry['forms'][number][]).push({
    prefix: 'probe-form',
    run: async (f) => ({ reply: { visibility: 'private', text: `form ${f.values.name}` } }),
  });
  return probe;
}

let projectId = 0;

beforeAll(async () => {
  const { sql } = db.current;
  const [p] = await sql<{ id: number }[]>`
    insert into projects (slug, name, channels) values ('demo', 'Demo', ${sql.json({ console: 'demo' })}) returning id`;
  projectId = p!.id;
  const a = await createUser(sql, { handle: 'alice', displayName: 'Alice', email: 'alice@example.com' });
  await addIdentity(sql, { userId: a.id, platform: 'console', externalId: 'alice' });
  await bindRole(sql, { userId: a.id, role: 'operator', projectId });
  const b = await createUser(sql, { handle: 'bob', displayName: 'Bob' });
  await bindRole(sql, { userId: b.id, role: 'admin', projectId: null });
  await createUser(sql, { handle: 'carol', displayName: 'Carol', email: 'carol@example.com' });
  const d = await createUser(sql, { handle: 'dave', displayName: 'Dave' });
  await addIdentity(sql, { userId: d.id, platform: 'console', externalId: 'dave' });
  await sql`update users set disabled = true where id = ${d.id}`;
});

describe('handleInteraction', () => {
  it('commits the interaction before running the command and marks it done afterwards', async () => {
    const deps = createTestDeps(db.current.sql);
    const probe = probeRegistry(deps);
    const result = await handleInteraction(command('probe web-01', alice, 'commit-1'), deps, probe.registry);
    expect(result.reply?.text).toBe('ran web-01');
    expect(probe.statusSeenInside).toEqual(['received']);
    const [row] = await db.current.sql<{ id: number; status: string; error: string | null }[]>`
      select id, status, error from interactions where dedupe_key = 'commit-1'`;
    expect(row).toMatchObject({ status: 'done', error: null });
  });

  it('answers a duplicate delivery privately and runs nothing the second time', async () => {
    const deps = createTestDeps(db.current.sql);
    const probe = probeRegistry(deps);
    await handleInteraction(command('probe once', alice, 'dup-1'), deps, probe.registry);
    const second = await handleInteraction(command('probe once', alice, 'dup-1'), deps, probe.registry);
    expect(probe.calls).toHaveLength(1);
    expect(second.reply).toMatchObject({ visibility: 'private' });
    expect(second.reply?.text).toContain('Already received');
  });

  it('tells an unknown user who they are on the platform and which admins to ask', async () => {
    const deps = createTestDeps(db.current.sql, {
      config: { publicUrl: 'http://localhost:3000', embedded: true, admins: ['root@example.com'] },
    });
    const probe = probeRegistry(deps);
    const who: PlatformUser = { platform: 'slack', externalId: 'U999', displayName: 'Mallory' };
    const result = await handleInteraction(command('probe x', who, 'unknown-1'), deps, probe.registry);
    expect(probe.calls).toHaveLength(0);
    expect(result.reply?.visibility).toBe('private');
    expect(result.reply?.text).toContain('On slack you are Mallory (U999)');
    expect(result.reply?.text).toContain('@bob');
    expect(result.reply?.text).toContain('root@example.com');
    const [row] = await db.current.sql`select status, error from interactions where dedupe_key = 'unknown-1'`;
    expect(row).toMatchObject({ status: 'failed', error: 'unauthenticated' });
  });

  it('links a platform identity to the user with the same verified e-mail, on the trail', async () => {
    const deps = createTestDeps(db.current.sql);
    const probe = probeRegistry(deps);
    const who: PlatformUser = { platform: 'slack', externalId: 'UCAROL', email: 'Carol@example.com' };
    const result = await handleInteraction(command('probe hi', who), deps, probe.registry);
    expect(result.reply?.text).toBe('ran hi');
    expect((await findUserByIdentity(db.current.sql, 'slack', 'UCAROL'))?.handle).toBe('carol');
    const events = await db.current
      .sql`select actor, action from audit_events where action = 'identity.linked'`;
    expect(events).toEqual([{ actor: 'user:carol', action: 'identity.linked' }]);
  });

  it('refuses a disabled user', async () => {
    const deps = createTestDeps(db.current.sql);
    const probe = probeRegistry(deps);
    const who: PlatformUser = { platform: 'console', externalId: 'dave' };
    const result = await handleInteraction(command('probe x', who, 'disabled-1'), deps, probe.registry);
    expect(probe.calls).toHaveLength(0);
    expect(result.reply).toMatchObject({ visibility: 'private', tone: 'error' });
    expect(result.reply?.text).toContain('@dave is disabled');
    const [row] = await db.current
      .sql`select status, error from interactions where dedupe_key = 'disabled-1'`;
    expect(row).toMatchObject({ status: 'failed', error: 'forbidden' });
  });

  it('turns an AppError into a private error reply with its message and records the code', async () => {
    const deps = createTestDeps(db.current.sql);
    const probe = probeRegistry(deps);
    const result = await handleInteraction(command('probe refuse', alice, 'apperr-1'), deps, probe.registry);
    expect(result.reply).toEqual({
      visibility: 'private',
      tone: 'error',
      text: 'That server is already being patched; wait for the run to finish.',
    });
    const [row] = await db.current.sql`select status, error from interactions where dedupe_key = 'apperr-1'`;
    expect(row).toMatchObject({ status: 'failed', error: 'conflict' });
  });

  it('hides an unexpected error behind a reference and logs it with the interaction id', async () => {
    const lines: string[] = [];
    const deps = createTestDeps(db.current.sql, {
      log: createLogger('error', { write: (m: string) => lines.push(m) }),
    });
    const probe = probeRegistry(deps);
    const result = await handleInteraction(command('probe crash', alice, 'crash-1'), deps, probe.registry);
    const [row] = await db.current.sql<{ id: number; status: string; error: string }[]>`
      select id, status, error from interactions where dedupe_key = 'crash-1'`;
    expect(row).toMatchObject({ status: 'failed', error: 'internal' });
    expect(result.reply?.text).toBe(
      `Something went wrong on our side (reference #${row!.id}); nothing was changed. Try again, or give the reference to an admin.`,
    );
    expect(result.reply?.text).not.toContain('hunter2');
    const logged = lines.map((l) => JSON.parse(l) as { interactionId?: number; msg: string });
    expect(logged).toContainEqual(
      expect.objectContaining({ interactionId: row!.id, msg: 'interaction failed' }),
    );
  });

  it('answers empty text, "help" and "/warden help" with the commands the caller may use', async () => {
    const deps = createTestDeps(db.current.sql);
    const probe = probeRegistry(deps);
    for (const text of ['', '   ', 'help', '/warden help']) {
      const result = await handleInteraction(command(text), deps, probe.registry);
      const lines = result.reply?.items?.map((i) => i.text) ?? [];
      expect(result.reply?.header).toBe('Warden commands');
      expect(lines).toContain('/warden help [command]');
      expect(lines).toContain('/warden whoami');
      expect(lines).toContain('/warden scan <server|project>');
      // alice is an operator: no audit:read
      expect(lines).not.toContain('/warden audit show <server>');
    }
  });

  it('explains one command with help <command>', async () => {
    const deps = createTestDeps(db.current.sql);
    const probe = probeRegistry(deps);
    const result = await handleInteraction(command('help probe'), deps, probe.registry);
    expect(result.reply?.header).toBe('/warden probe');
    expect(result.reply?.fields).toContainEqual({ label: 'Usage', value: '/warden probe <word> [--loud]' });
    const unknown = await handleInteraction(command('help prbe'), deps, probe.registry);
    expect(unknown.reply?.tone).toBe('error');
    expect(unknown.reply?.text).toContain('Did you mean /warden help probe?');
  });

  it('answers a mistyped command privately, quoting the bad word', async () => {
    const deps = createTestDeps(db.current.sql);
    const probe = probeRegistry(deps);
    const result = await handleInteraction(command('prbe web-01'), deps, probe.registry);
    expect(result.reply).toMatchObject({ visibility: 'private', tone: 'error' });
    expect(result.reply?.text).toContain('"prbe"');
    expect(result.reply?.text).toContain('Did you mean /warden probe?');
    const flag = await handleInteraction(command('probe x --force'), deps, probe.registry);
    expect(flag.reply?.text).toContain('Unknown flag "--force"');
    expect(flag.reply?.text).toContain('Usage: /warden probe <word> [--loud]');
  });

  it.each([
    ['; rm -rf /'],
    ['$(reboot)'],
    ['probe a\u0000b'],
    ['probe \u202Eevil'],
    ['probe "open'],
    ['probe \uD800'],
    ['x'.repeat(10_000)],
  ])('survives hostile input %#, recording it and answering privately', async (text) => {
    const deps = createTestDeps(db.current.sql);
    const probe = probeRegistry(deps);
    const key = `hostile-${++seq}`;
    const result = await handleInteraction(command(text, alice, key), deps, probe.registry);
    expect(result.reply?.visibility).toBe('private');
    expect(result.reply?.tone).toBe('error');
    expect(probe.calls).toHaveLength(0);
    const [row] = await db.current.sql`select status, error from interactions where dedupe_key = ${key}`;
    expect(row).toMatchObject({ status: 'failed', error: 'bad_request' });
  });

  it('passes shell metacharacters to the command as plain words', async () => {
    const deps = createTestDeps(db.current.sql);
    const probe = probeRegistry(deps);
    const result = await handleInteraction(command('probe "`id`; $(reboot)"'), deps, probe.registry);
    expect(probe.calls.map((c) => c.positional)).toEqual([['`id`; $(reboot)']]);
    expect(result.reply?.text).toBe('ran `id`; $(reboot)');
  });

  it('routes a click to the action with the longest matching prefix', async () => {
    const deps = createTestDeps(db.current.sql);
    const probe = probeRegistry(deps);
    const base = { user: alice, channel: 'demo', receivedAt: deps.clock.now() };
    const click = (actionId: string): Interaction => ({
      ...base,
      kind: 'action',
      actionId,
      value: 'v',
      dedupeKey: `click-${++seq}`,
    });
    expect((await handleInteraction(click('probe.go'), deps, probe.registry)).replaceOriginal?.text).toBe(
      'short v',
    );
    expect(
      (await handleInteraction(click('probe.long.go'), deps, probe.registry)).replaceOriginal?.text,
    ).toBe('long v');
    const stale = await handleInteraction(click('gone.away'), deps, probe.registry);
    expect(stale.reply?.tone).toBe('error');
    expect(stale.reply?.text).toContain('no longer does anything');
  });

  it('routes a submitted form by its id prefix', async () => {
    const deps = createTestDeps(db.current.sql);
    const probe = probeRegistry(deps);
    const result = await handleInteraction(
      {
        kind: 'form',
        formId: 'probe-form:1',
        values: { name: 'web-01' },
        user: alice,
        channel: 'demo',
        dedupeKey: 'form-1',
        receivedAt: deps.clock.now(),
      },
      deps,
      probe.registry,
    );
    expect(result.reply?.text).toBe('form web-01');
    const [row] = await db.current.sql<
      { id: number }[]
    >`select id from interactions where dedupe_key = 'form-1'`;
    expect((await getInteraction(db.current.sql, row!.id))?.body).toMatchObject({
      values: { name: 'web-01' },
    });
  });
});

describe('whoami', () => {
  it("shows the caller's handle, platforms and roles per project", async () => {
    const deps = createTestDeps(db.current.sql);
    const result = await handleInteraction(command('whoami'), deps, createRegistry());
    expect(result.reply?.header).toBe('You are @alice');
    expect(result.reply?.fields).toContainEqual({ label: 'Platforms', value: 'console: alice (unverified)' });
    expect(result.reply?.items).toEqual([{ text: 'operator', detail: 'on demo' }]);
  });
});
