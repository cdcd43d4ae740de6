import { beforeAll, describe, expect, it } from 'vitest';
import { seedUser } from '../../bot/api/testing.js';
import type { CommandInteraction } from '../../bot/chat/model.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { type Actor, loadActor } from '../rbac/authorize.js';
import type { CommandContext, ParsedArgs } from '../registry.js';
import { ageOf, projectsCommand, serversCommand } from './chat.js';
import { importInventory } from './import.js';
import { createProject } from './projects.js';
import { createServer, listServers, updateServer } from './servers.js';

const db = useTestDatabase('inventory-commands');
let deps: TestDeps;
let admin: Actor;
let operator: Actor;

beforeAll(async () => {
  deps = createTestDeps(db.current.sql);
  admin = await loadActor(
    db.current.sql,
    await seedUser(db.current.sql, 'root', [{ role: 'admin' }]),
    'console',
  );
  await createProject({ slug: 'web', name: 'Web' }, deps, admin);
  await createProject({ slug: 'db', name: 'Databases' }, deps, admin);
  const dave = await seedUser(db.current.sql, 'dave', [{ role: 'operator', project: 'web' }]);
  operator = await loadActor(db.current.sql, dave, 'console');
  await importInventory(
    {
      servers: [
        { name: 'web-01', project: 'web', owner: 'dave', address: 'web-01.example.com' },
        { name: 'web-02', project: 'web' },
        { name: 'db-01', project: 'db' },
        { name: 'loose-01' },
      ],
    },
    deps,
    admin,
  );
});

function context(actor: Actor): CommandContext {
  const interaction: CommandInteraction = {
    kind: 'command',
    text: '',
    dedupeKey: 'k',
    user: { platform: 'console', externalId: actor.user.handle },
    channel: 'general',
    receivedAt: deps.clock.now(),
  };
  return { actor, interaction, deps };
}

function args(positional: string[] = []): ParsedArgs {
  return { positional, options: {}, keywords: {}, flags: [], raw: positional.join(' ') };
}

describe('inventory commands', () => {
  it('shows a project-scoped operator only the servers of their projects', async () => {
    const seen = await listServers({}, deps, operator);
    expect(seen.items.map((s) => s.name)).toEqual(['web-01', 'web-02']);
    const all = await listServers({}, deps, admin);
    expect(all.items.map((s) => s.name)).toEqual(['db-01', 'loose-01', 'web-01', 'web-02']);
    await expect(listServers({ project: 'db' }, deps, operator)).rejects.toMatchObject({ code: 'forbidden' });
  });

  it('needs inventory:write globally to create a project or an unassigned server', async () => {
    await expect(createProject({ slug: 'x', name: 'X' }, deps, operator)).rejects.toMatchObject({
      code: 'forbidden',
      details: { permission: 'inventory:write', project: null },
    });
    await expect(createServer({ name: 'web-09', project: 'web' }, deps, operator)).rejects.toMatchObject({
      code: 'forbidden',
    });
  });

  it('refuses a move into a project the actor may not write, and writes nothing', async () => {
    const pm = await loadActor(
      db.current.sql,
      await seedUser(db.current.sql, 'pat', [{ role: 'patch-manager', project: 'web' }]),
      'console',
    );
    await expect(updateServer({ name: 'web-02', patch: { project: 'db' } }, deps, pm)).rejects.toMatchObject({
      code: 'forbidden',
      details: { project: 'db' },
    });
    const moved = await updateServer({ name: 'web-02', patch: { tags: { moved: 'no' } } }, deps, pm);
    expect(moved).toMatchObject({ projectSlug: 'web', tags: { moved: 'no' } });
  });

  it('lists servers in chat with owners and ages', async () => {
    deps.clock.advance(3 * 86_400_000);
    const result = await serversCommand.run(args(['web']), context(operator));
    expect(result.reply?.header).toBe('Servers in web');
    expect(result.reply?.items?.[0]).toEqual({
      text: 'web-01 (web-01.example.com)',
      detail: 'project web · owner dave · added 3d ago',
    });
    const denied = serversCommand.run(args(['db']), context(operator));
    await expect(denied).rejects.toMatchObject({ code: 'forbidden' });
  });

  it('lists projects in chat with server counts and ages', async () => {
    const result = await projectsCommand.run(args(), context(admin));
    expect(result.reply?.items?.map((i) => i.text)).toEqual(['db — Databases', 'web — Web']);
    expect(result.reply?.items?.[1]?.detail).toMatch(/^2 servers · created \d+d ago$/);
    const scoped = await projectsCommand.run(args(), context(operator));
    expect(scoped.reply?.items?.map((i) => i.text)).toEqual(['web — Web']);
  });

  it('says ages in the largest sensible unit', () => {
    const now = new Date('2026-01-10T12:00:00Z');
    expect(ageOf(new Date('2026-01-10T11:59:30Z'), now)).toBe('just now');
    expect(ageOf(new Date('2026-01-10T11:15:00Z'), now)).toBe('45m');
    expect(ageOf(new Date('2026-01-09T12:00:00Z'), now)).toBe('24h');
    expect(ageOf(new Date('2026-01-01T12:00:00Z'), now)).toBe('9d');
  });
});
