import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureProject } from '../bot/api/testing.js';
import { useTestDatabase } from '../test/db.js';
import { createTestDeps, type TestDeps } from '../test/deps.js';
import { serviceKeyCreate, userAdd } from './cli.js';

const db = useTestDatabase('cli-admin');
let deps: TestDeps;
const scratch = mkdtempSync(path.join(tmpdir(), 'warden-cli-admin-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

beforeAll(async () => {
  deps = createTestDeps(db.current.sql);
  await ensureProject(db.current.sql, 'shop');
});

describe('warden user add and service-key create (CLI bootstrap)', () => {
  it('refuses a service key before any admin exists, naming what to do', async () => {
    const c = capture();
    await expect(serviceKeyCreate(deps, { scope: 'default' }, c.io)).rejects.toThrow(/warden user add/);
  });

  it('adds a global admin as the cli actor, then makes a service key owned by them', async () => {
    const c = capture();
    expect(await userAdd(deps, { handle: 'ops', email: 'ops@example.com', role: 'admin' }, c.io)).toBe(0);
    expect(c.out).toEqual(['ops']);
    const [event] = await db.current.sql<{ actor: string }[]>`
      select actor from audit_events where action = 'user.role-bound'`;
    expect(event!.actor).toBe('cli');

    const k = capture();
    expect(await serviceKeyCreate(deps, { scope: 'default' }, k.io)).toBe(0);
    expect(k.out[0]).toMatch(/^ssh-ed25519 AAAA/);
    expect(k.err.join('\n')).toContain('owned by ops');
  });

  it('binds a project role, and refuses hostile input without writing a user', async () => {
    const c = capture();
    await userAdd(deps, { handle: 'pat', email: 'pat@example.com', role: 'operator', project: 'shop' }, c.io);
    const bindings = await db.current.sql`
      select b.role, p.slug from role_bindings b join users u on u.id = b.user_id
      left join projects p on p.id = b.project_id where u.handle = 'pat'`;
    expect(bindings).toEqual([{ role: 'operator', slug: 'shop' }]);
    await expect(userAdd(deps, { handle: 'x; rm -rf /', email: 'x@example.com' }, c.io)).rejects.toThrow(
      /handle/,
    );
    await expect(userAdd(deps, { handle: 'y', email: 'y@example.com', role: 'root' }, c.io)).rejects.toThrow(
      /role/,
    );
    await expect(
      userAdd(deps, { handle: 'z', email: 'z@example.com', role: 'admin', project: 'ghost' }, c.io),
    ).rejects.toThrow(/ghost/);
    const users = await db.current.sql<{ handle: string }[]>`select handle from users order by handle`;
    expect(users.map((u) => u.handle)).toEqual(['ops', 'pat']);
  });
});
