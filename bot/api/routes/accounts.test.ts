import type { Hono } from 'hono';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../../test/db.js';
import { createTestDeps, type TestDeps } from '../../../test/deps.js';
import { createApp } from '../../app.js';
import type { AppEnv } from '../../http/context.js';
import { bearer, ensureProject, seedUser, tokenFor } from '../testing.js';

const db = useTestDatabase('api-accounts');
let deps: TestDeps;
let app: Hono<AppEnv>;
let adminToken: string;
let projectWriterToken: string;
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

type Json = Record<string, unknown> & {
  items?: Json[];
  error?: { code: string; message: string; details?: { issues?: { path: string }[] } };
};

beforeAll(async () => {
  deps = createTestDeps(db.current.sql);
  app = createApp({ deps });
  await ensureProject(db.current.sql, 'shop');
  const root = await seedUser(db.current.sql, 'root', [{ role: 'admin' }]);
  const pat = await seedUser(db.current.sql, 'pat', [{ role: 'patch-manager', project: 'shop' }]);
  adminToken = await tokenFor(deps, root, ['inventory:read', 'inventory:write']);
  projectWriterToken = await tokenFor(deps, pat, ['inventory:read', 'inventory:write']);
});

async function call(method: string, token: string, body?: unknown) {
  const res = await app.request('/api/v1/accounts', {
    method,
    headers: bearer(token, body === undefined ? {} : { 'content-type': 'application/json' }),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as Json };
}

const accountCount = async () =>
  (await db.current.sql<{ n: number }[]>`select count(*)::int as n from accounts`)[0]!.n;

describe('accounts API', () => {
  it('creates an account with sealed credentials and never returns them', async () => {
    const created = await call('POST', adminToken, {
      name: 'aws-prod',
      provider: 'aws',
      config: {
        region: 'eu-west-1',
        roleArn: 'arn:aws:iam::123456789012:role/WardenPatching',
        project: 'shop',
      },
      credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: SECRET },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'aws-prod',
      provider: 'aws',
      config: { region: 'eu-west-1', project: 'shop' },
      hasCredentials: true,
      serverCount: 0,
    });
    expect(created.text).not.toContain(SECRET);
    expect(created.text).not.toContain('AKIAIOSFODNN7EXAMPLE');

    const [row] = await db.current.sql<{ sealed: string }[]>`
      select sealed_credentials as sealed from accounts where name = 'aws-prod'`;
    expect(row!.sealed).not.toContain(SECRET);
    expect(JSON.parse(deps.vault.openText(row!.sealed, 'account:aws-prod'))).toMatchObject({
      secretAccessKey: SECRET,
    });

    const listed = await call('GET', adminToken);
    expect(listed.status).toBe(200);
    expect(listed.body.items).toEqual([expect.objectContaining({ name: 'aws-prod', hasCredentials: true })]);
    expect(listed.text).not.toContain(SECRET);
    const trail = await db.current.sql<{ data: unknown }[]>`
      select data from audit_events where action = 'account.created'`;
    expect(JSON.stringify(trail)).not.toContain(SECRET);
  });

  it('refuses hostile names, unknown settings, http Azure endpoints and stray credentials, writing nothing', async () => {
    const before = await accountCount();
    for (const name of ['; rm -rf /', '$(reboot)', 'a\nb', "o'brien", 'ünïcode', '-oProxyCommand=x', '']) {
      const res = await call('POST', adminToken, { name, provider: 'ssh' });
      expect(res.status, name).toBe(400);
    }
    const unknown = await call('POST', adminToken, {
      name: 'aws-2',
      provider: 'aws',
      config: { region: 'eu-west-1', password: 'x' },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error?.details?.issues?.map((i) => i.path)).toEqual(['config.password']);
    const plainHttp = await call('POST', adminToken, {
      name: 'az',
      provider: 'azure',
      config: {
        subscriptionId: '6f0c2d1e-1a2b-4c3d-9e8f-0123456789ab',
        tenantId: '11111111-2222-3333-4444-555555555555',
        clientId: '66666666-7777-8888-9999-000000000000',
        endpoint: 'http://127.0.0.1:1',
      },
      credentials: { clientSecret: SECRET },
    });
    expect(plainHttp.status).toBe(400);
    expect(plainHttp.body.error?.details?.issues?.map((i) => i.path)).toEqual(['config.endpoint']);
    const noSecret = await call('POST', adminToken, {
      name: 'az',
      provider: 'azure',
      config: {
        subscriptionId: '6f0c2d1e-1a2b-4c3d-9e8f-0123456789ab',
        tenantId: '11111111-2222-3333-4444-555555555555',
        clientId: '66666666-7777-8888-9999-000000000000',
      },
    });
    expect(noSecret.body.error?.details?.issues?.map((i) => i.path)).toEqual(['credentials']);
    const badKey = await call('POST', adminToken, {
      name: 'aws-3',
      provider: 'aws',
      config: { region: 'eu-west-1' },
      credentials: { accessKeyId: SECRET, secretAccessKey: 'a\nb' },
    });
    expect(badKey.status).toBe(400);
    expect(badKey.text).not.toContain(SECRET);
    const sshCreds = await call('POST', adminToken, {
      name: 'dc-1',
      provider: 'ssh',
      credentials: { privateKey: 'x' },
    });
    expect(sshCreds.body.error?.message).toMatch(/ssh-key:dc-1/);
    const noProject = await call('POST', adminToken, {
      name: 'dc-2',
      provider: 'ssh',
      config: { project: 'nope' },
    });
    expect(noProject.body.error?.message).toMatch(/no project "nope"/);
    expect(await accountCount()).toBe(before);
  });

  it('needs inventory:write globally to create, and refuses a second account of the same name', async () => {
    const denied = await call('POST', projectWriterToken, { name: 'dc-3', provider: 'ssh' });
    expect(denied.status).toBe(403);
    expect((await call('GET', projectWriterToken)).status).toBe(403);
    const first = await call('POST', adminToken, {
      name: 'dc-3',
      provider: 'ssh',
      config: { user: 'warden' },
    });
    expect(first.status).toBe(201);
    expect(first.body.hasCredentials).toBe(false);
    expect((await call('POST', adminToken, { name: 'DC-3', provider: 'ssh' })).status).toBe(409);
  });
});
