import type { Hono } from 'hono';
import { beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../commands/tokens/tokens.js';
import type { User } from '../../storage/users.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { createApp } from '../app.js';
import type { AppEnv } from '../http/context.js';
import { actorFor, bearer, seedUser, tokenFor } from './testing.js';

const db = useTestDatabase('api-auth');
let deps: TestDeps;
let app: Hono<AppEnv>;
let admin: User;
let alice: User;
let bob: User;

interface ErrorJson {
  error: { code: string; message: string; details?: Record<string, unknown>; requestId: string };
}

beforeAll(async () => {
  const { sql } = db.current;
  deps = createTestDeps(sql);
  app = createApp({ deps });
  admin = await seedUser(sql, 'root', [{ role: 'admin' }]);
  // alice operates on project "web" only; bob is a patch-manager on "web" and "db".
  alice = await seedUser(sql, 'alice', [{ role: 'operator', project: 'web' }]);
  bob = await seedUser(sql, 'bob', [
    { role: 'patch-manager', project: 'web' },
    { role: 'patch-manager', project: 'db' },
  ]);
});

async function get(path: string, headers: Record<string, string> = {}) {
  const res = await app.request(path, { headers });
  return { res, body: (await res.json()) as ErrorJson & Record<string, unknown> };
}

describe('API authentication', () => {
  it('refuses a request without an Authorization header with 401 and WWW-Authenticate', async () => {
    const { res, body } = await get('/api/v1/projects');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="warden"');
    expect(body.error.code).toBe('unauthenticated');
    expect(body.error.message).toMatch(/Authorization: Bearer/);
    expect(body.error.requestId).toBe(res.headers.get('x-request-id'));
  });

  it('refuses a malformed Authorization header', async () => {
    for (const header of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer a b', 'wdn_abc']) {
      const { res, body } = await get('/api/v1/projects', { Authorization: header });
      expect(res.status, header).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('Bearer realm="warden"');
      expect(body.error.code).toBe('unauthenticated');
    }
  });

  it('refuses a token that is not a Warden token, and an unknown one', async () => {
    const notOurs = await get('/api/v1/projects', bearer('ghp_0123456789'));
    expect(notOurs.res.status).toBe(401);
    expect(notOurs.body.error.details?.reason).toBe('malformed');
    const unknown = await get('/api/v1/projects', bearer(`wdn_${'A'.repeat(43)}`));
    expect(unknown.res.status).toBe(401);
    expect(unknown.res.headers.get('www-authenticate')).toBe('Bearer realm="warden", error="invalid_token"');
    expect(unknown.body.error.details?.reason).toBe('unknown');
  });

  it('refuses an expired token once its time has passed', async () => {
    const token = await tokenFor(deps, alice, ['inventory:read'], { expiresIn: '1h' });
    expect((await get('/api/v1/projects', bearer(token))).res.status).toBe(200);
    deps.clock.advance(3600_000);
    const { res, body } = await get('/api/v1/projects', bearer(token));
    expect(res.status).toBe(401);
    expect(body.error.details?.reason).toBe('expired');
    expect(body.error.message).toMatch(/expired/);
  });

  it('refuses a revoked token', async () => {
    const token = await tokenFor(deps, alice, ['inventory:read']);
    const list = await get('/api/v1/tokens', bearer(token));
    const items = (list.body as unknown as { items: { id: number; name: string; status: string }[] }).items;
    const mine = items.find((t) => t.status === 'active')!;
    const revoked = await app.request(`/api/v1/tokens/${mine.id}`, {
      method: 'DELETE',
      headers: bearer(token),
    });
    expect(revoked.status).toBe(200);
    expect(((await revoked.json()) as { status: string }).status).toBe('revoked');
    const { res, body } = await get('/api/v1/projects', bearer(token));
    expect(res.status).toBe(401);
    expect(body.error.details?.reason).toBe('revoked');
  });

  it('stores only the hash and a short prefix of a token', async () => {
    const token = await tokenFor(deps, alice, ['inventory:read'], { name: 'hash-check' });
    expect(token).toMatch(/^wdn_[A-Za-z0-9_-]{43}$/);
    const rows = await db.current.sql<{ token_hash: string; prefix: string }[]>`
      select token_hash, prefix from api_tokens where name = 'hash-check'`;
    expect(rows).toHaveLength(1);
    expect(rows[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0]!.token_hash).not.toContain(token.slice(4));
    expect(token.startsWith(rows[0]!.prefix)).toBe(true);
    expect(rows[0]!.prefix).toHaveLength(12);
    const trail = await db.current.sql<
      { data: unknown }[]
    >`select data from audit_events where action = 'token.created'`;
    expect(JSON.stringify(trail)).not.toContain(token);
  });

  it('updates last_used_at at most once a minute', async () => {
    const token = await tokenFor(deps, alice, ['inventory:read'], { name: 'touch' });
    const lastUsed = async () =>
      (
        await db.current.sql<
          { at: Date | null }[]
        >`select last_used_at as at from api_tokens where name = 'touch'`
      )[0]!.at;
    expect(await lastUsed()).toBeNull();
    const first = deps.clock.now();
    await get('/api/v1/projects', bearer(token));
    expect((await lastUsed())?.toISOString()).toBe(first.toISOString());
    deps.clock.advance(30_000);
    await get('/api/v1/projects', bearer(token));
    expect((await lastUsed())?.toISOString()).toBe(first.toISOString());
    const later = deps.clock.advance(31_000);
    await get('/api/v1/projects', bearer(token));
    expect((await lastUsed())?.toISOString()).toBe(later.toISOString());
  });
});

describe('API authorization', () => {
  it('answers 403 naming the permission when the token lacks the scope', async () => {
    const token = await tokenFor(deps, bob, ['inventory:read']);
    const res = await app.request('/api/v1/servers', {
      method: 'POST',
      headers: bearer(token, { 'content-type': 'application/json' }),
      body: JSON.stringify({ name: 'web-01', project: 'web' }),
    });
    expect(res.status).toBe(403);
    const body = (await res.json()) as ErrorJson;
    expect(body.error.code).toBe('forbidden');
    expect(body.error.details?.permission).toBe('inventory:write');
    expect(body.error.message).toMatch(/not scoped for inventory:write/);
  });

  it('answers 403 when the user lacks the permission on that project', async () => {
    // alice (operator on web) may read web, but may not write it, and may not read db.
    const token = await tokenFor(deps, alice, ['inventory:read']);
    const other = await get('/api/v1/projects/db', bearer(token));
    expect(other.res.status).toBe(403);
    expect(other.body.error.details).toMatchObject({ permission: 'inventory:read', project: 'db' });
    const own = await get('/api/v1/projects/web', bearer(token));
    expect(own.res.status).toBe(200);

    const adminToken = await tokenFor(deps, admin, ['inventory:write']);
    const res = await app.request('/api/v1/servers', {
      method: 'POST',
      headers: bearer(adminToken, { 'content-type': 'application/json' }),
      body: JSON.stringify({ name: 'db-01', project: 'db' }),
    });
    expect(res.status).toBe(201);
    const aliceSees = await get('/api/v1/servers/db-01', bearer(token));
    expect(aliceSees.res.status).toBe(403);
  });

  it('confines a project-limited token to its project even when its user may do more', async () => {
    const token = await tokenFor(deps, bob, ['inventory:read', 'inventory:write'], { projectSlug: 'web' });
    const created = await app.request('/api/v1/servers', {
      method: 'POST',
      headers: bearer(token, { 'content-type': 'application/json' }),
      body: JSON.stringify({ name: 'web-07', project: 'web' }),
    });
    expect(created.status).toBe(201);
    const elsewhere = await app.request('/api/v1/servers', {
      method: 'POST',
      headers: bearer(token, { 'content-type': 'application/json' }),
      body: JSON.stringify({ name: 'db-07', project: 'db' }),
    });
    expect(elsewhere.status).toBe(403);
    expect(((await elsewhere.json()) as ErrorJson).error.details).toMatchObject({ project: 'db' });
    const read = await get('/api/v1/projects/db', bearer(token));
    expect(read.res.status).toBe(403);
    const list = await get('/api/v1/projects', bearer(token));
    expect((list.body as unknown as { items: { slug: string }[] }).items.map((p) => p.slug)).toEqual(['web']);
  });

  it('only lets a creator give a token permissions they hold', async () => {
    const token = await tokenFor(deps, alice, ['inventory:read']);
    // alice has no admin rights, so she cannot hand out tokens:manage or write; nor make tokens for bob.
    const aliceActor = await actorFor(db.current.sql, alice);
    await expect(
      createToken(deps, aliceActor, { name: 'x', scopes: ['inventory:write'] }),
    ).rejects.toMatchObject({
      code: 'forbidden',
    });
    await expect(
      createToken(deps, aliceActor, { name: 'x', scopes: ['inventory:read'], user: 'bob' }),
    ).rejects.toMatchObject({ code: 'forbidden', details: { permission: 'tokens:manage' } });
    // A token cannot mint tokens unless it carries tokens:manage.
    const viaApi = await app.request('/api/v1/tokens', {
      method: 'POST',
      headers: bearer(token, { 'content-type': 'application/json' }),
      body: JSON.stringify({ name: 'child', scopes: ['inventory:read'] }),
    });
    expect(viaApi.status).toBe(403);
  });

  it('creates a token through the API for an admin token holding tokens:manage, once, in plaintext', async () => {
    const token = await tokenFor(deps, admin, ['tokens:manage', 'inventory:read']);
    const res = await app.request('/api/v1/tokens', {
      method: 'POST',
      headers: bearer(token, { 'content-type': 'application/json' }),
      body: JSON.stringify({
        name: 'ci',
        scopes: ['inventory:read'],
        user: 'bob',
        projectSlug: 'db',
        expiresIn: '30d',
      }),
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as {
      token: string;
      info: { owner: string; project: string; expiresAt: string };
    };
    expect(body.token).toMatch(/^wdn_/);
    expect(body.info).toMatchObject({ owner: 'bob', project: 'db' });
    expect(new Date(body.info.expiresAt).getTime() - deps.clock.now().getTime()).toBe(30 * 86_400_000);
    const asBob = await get('/api/v1/projects/db', bearer(body.token));
    expect(asBob.res.status).toBe(200);
    const listed = await get('/api/v1/tokens?user=bob', bearer(token));
    const items = (listed.body as unknown as { items: Record<string, unknown>[] }).items;
    expect(items.some((t) => t.name === 'ci')).toBe(true);
    expect(JSON.stringify(items)).not.toContain(body.token);
    const events = await db.current.sql<{ action: string; actor: string; data: Record<string, unknown> }[]>`
      select action, actor, data from audit_events where action = 'token.created' order by seq desc limit 1`;
    expect(events[0]).toMatchObject({ actor: 'user:root', data: { owner: 'bob', via: 'api', name: 'ci' } });
  });
});
