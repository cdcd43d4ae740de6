import type { Hono } from 'hono';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../../test/db.js';
import { createTestDeps, type TestDeps } from '../../../test/deps.js';
import { createApp } from '../../app.js';
import type { AppEnv } from '../../http/context.js';
import { bearer, ensureProject, seedUser, tokenFor } from '../testing.js';

const db = useTestDatabase('api-users');
let deps: TestDeps;
let app: Hono<AppEnv>;
let adminToken: string;
let operatorToken: string;

type Json = Record<string, unknown> & {
  items?: { handle: string; bindings: unknown[] }[];
  error?: { code: string; message: string };
};

beforeAll(async () => {
  deps = createTestDeps(db.current.sql);
  app = createApp({ deps });
  await ensureProject(db.current.sql, 'shop');
  const root = await seedUser(db.current.sql, 'root', [{ role: 'admin' }]);
  const op = await seedUser(db.current.sql, 'opal', [{ role: 'operator', project: 'shop' }]);
  adminToken = await tokenFor(deps, root, ['users:manage']);
  operatorToken = await tokenFor(deps, op, ['inventory:read']);
});

async function call(method: string, path: string, token: string, body?: unknown) {
  const res = await app.request(`/api/v1${path}`, {
    method,
    headers: bearer(token, body === undefined ? {} : { 'content-type': 'application/json' }),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Json };
}

const userCount = async () =>
  (await db.current.sql<{ n: number }[]>`select count(*)::int as n from users`)[0]!.n;
const events = (action: string) =>
  db.current.sql<{ actor: string; data: Record<string, unknown> }[]>`
    select actor, data from audit_events where action = ${action} order by seq`;

describe('users API', () => {
  it('creates a user, binds a project role, and the new user can act with it', async () => {
    const created = await call('POST', '/users', adminToken, {
      handle: 'dana',
      displayName: 'Dana Scully',
      email: 'Dana@Example.com',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      handle: 'dana',
      email: 'dana@example.com',
      disabled: false,
      bindings: [],
    });
    const bound = await call('POST', '/users/dana/roles', adminToken, {
      role: 'patch-manager',
      project: 'shop',
    });
    expect(bound.status).toBe(200);
    expect(bound.body.bindings).toEqual([{ role: 'patch-manager', project: 'shop' }]);
    // Binding twice changes nothing and records nothing more.
    await call('POST', '/users/dana/roles', adminToken, { role: 'patch-manager', project: 'shop' });
    expect(await events('user.role-bound')).toHaveLength(1);

    const [dana] = await db.current.sql<
      { id: number; handle: string; displayName: string; email: string; disabled: boolean }[]
    >`
      select id, handle, display_name as "displayName", email, disabled from users where handle = 'dana'`;
    const danaToken = await tokenFor(deps, dana!, ['inventory:write'], { projectSlug: 'shop' });
    const settings = await call('PUT', '/projects/shop/settings/scan', danaToken, { every: '1d' });
    expect(settings.status).toBe(200);

    const listed = await call('GET', '/users', adminToken);
    expect(listed.body.items!.map((u) => u.handle)).toEqual(['dana', 'opal', 'root']);
    const [event] = await events('user.created');
    expect(event).toMatchObject({ actor: 'user:root', data: { handle: 'dana', email: 'dana@example.com' } });
  });

  it('unbinds a role and disables a user, who is then refused everything', async () => {
    const unbound = await call('DELETE', '/users/dana/roles', adminToken, {
      role: 'patch-manager',
      project: 'shop',
    });
    expect(unbound.status).toBe(200);
    expect(unbound.body.bindings).toEqual([]);
    await call('POST', '/users/dana/roles', adminToken, { role: 'operator' });
    const [dana] = await db.current.sql<
      { id: number; handle: string; displayName: string; email: string; disabled: boolean }[]
    >`
      select id, handle, display_name as "displayName", email, disabled from users where handle = 'dana'`;
    const danaToken = await tokenFor(deps, dana!, ['inventory:read']);
    expect((await call('GET', '/projects', danaToken)).status).toBe(200);
    const disabled = await call('POST', '/users/dana/disable', adminToken);
    expect(disabled.body).toMatchObject({ handle: 'dana', disabled: true });
    expect((await call('GET', '/projects', danaToken)).status).not.toBe(200);
    expect((await events('user.disabled'))[0]!.data).toMatchObject({ handle: 'dana' });
    expect((await events('user.role-unbound'))[0]!.data).toMatchObject({
      role: 'patch-manager',
      project: 'shop',
    });
  });

  it('refuses callers without users:manage with 403 and writes nothing', async () => {
    const before = await userCount();
    const refused = await call('POST', '/users', operatorToken, { handle: 'eve', email: 'eve@example.com' });
    expect(refused.status).toBe(403);
    expect((await call('GET', '/users', operatorToken)).status).toBe(403);
    expect((await call('POST', '/users/opal/roles', operatorToken, { role: 'admin' })).status).toBe(403);
    expect(await userCount()).toBe(before);
  });

  it('refuses hostile handles, bad roles, unknown projects and duplicates with nothing written', async () => {
    const before = await userCount();
    const seqBefore = (await db.current.sql<{ n: number }[]>`select count(*)::int as n from audit_events`)[0]!
      .n;
    for (const handle of ['x; rm -rf /', '$(reboot)', 'a\nb', 'Ünïcode', '', '../etc']) {
      const r = await call('POST', '/users', adminToken, { handle, email: 'h@example.com' });
      expect(r.status, handle).toBe(400);
    }
    expect((await call('POST', '/users', adminToken, { handle: 'ok', email: 'not-an-email' })).status).toBe(
      400,
    );
    expect(
      (await call('POST', '/users', adminToken, { handle: 'root', email: 'r2@example.com' })).status,
    ).toBe(409);
    expect((await call('POST', '/users/opal/roles', adminToken, { role: 'god' })).status).toBe(400);
    expect(
      (await call('POST', '/users/opal/roles', adminToken, { role: 'admin', project: 'nope' })).status,
    ).toBe(404);
    expect(
      (await call('POST', `/users/${encodeURIComponent('$(id)')}/roles`, adminToken, { role: 'admin' }))
        .status,
    ).toBe(400);
    expect((await call('POST', '/users/ghost/disable', adminToken)).status).toBe(404);
    expect(await userCount()).toBe(before);
    const seqAfter = (await db.current.sql<{ n: number }[]>`select count(*)::int as n from audit_events`)[0]!
      .n;
    expect(seqAfter).toBe(seqBefore);
  });
});
