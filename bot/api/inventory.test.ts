import type { Hono } from 'hono';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { createApp } from '../app.js';
import type { AppEnv } from '../http/context.js';
import { bearer, seedUser, tokenFor } from './testing.js';

const db = useTestDatabase('api-inventory');
let deps: TestDeps;
let app: Hono<AppEnv>;
let token: string;

interface Json {
  [key: string]: unknown;
}
interface ErrorJson {
  error: { code: string; message: string; details?: { issues?: Json[] } & Json; requestId: string };
}

beforeAll(async () => {
  deps = createTestDeps(db.current.sql);
  app = createApp({ deps });
  const admin = await seedUser(db.current.sql, 'root', [{ role: 'admin' }]);
  await seedUser(db.current.sql, 'carol', []);
  token = await tokenFor(deps, admin, ['inventory:read', 'inventory:write', 'audit:read', 'audit:verify']);
});

async function call(method: string, path: string, body?: unknown, contentType = 'application/json') {
  const res = await app.request(path, {
    method,
    headers: bearer(token, body === undefined ? {} : { 'content-type': contentType }),
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as Json & ErrorJson };
}

const count = async (table: 'servers' | 'projects' | 'audit_events') =>
  (await db.current.sql<{ n: number }[]>`select count(*)::int as n from ${db.current.sql(table)}`)[0]!.n;

describe('projects', () => {
  it('creates, reads, lists and patches a project, recording each change', async () => {
    const created = await call('POST', '/api/v1/projects', {
      slug: 'shop',
      name: 'Shop',
      channels: { console: 'shop' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      slug: 'shop',
      name: 'Shop',
      description: '',
      channels: { console: 'shop' },
    });

    expect((await call('GET', '/api/v1/projects/shop')).body).toMatchObject({ slug: 'shop' });
    const list = await call('GET', '/api/v1/projects');
    expect(list.body.items).toEqual([expect.objectContaining({ slug: 'shop', serverCount: 0 })]);

    const patched = await call('PATCH', '/api/v1/projects/shop', { description: 'the web shop' });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ name: 'Shop', description: 'the web shop' });
    const events = await db.current.sql<{ action: string; data: Json }[]>`
      select action, data from audit_events where subject_type = 'project' and subject_id = 'shop' order by seq`;
    expect(events.map((e) => e.action)).toEqual(['project.created', 'project.updated']);
    expect(events[1]!.data).toMatchObject({
      changes: { description: { from: '', to: 'the web shop' } },
      via: 'api',
    });
  });

  it('refuses a duplicate slug with 409 and a bad one with 400', async () => {
    const dup = await call('POST', '/api/v1/projects', { slug: 'shop', name: 'Again' });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('conflict');
    const bad = await call('POST', '/api/v1/projects', { slug: 'Bad Slug!', name: 'x', extra: 1 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details?.issues?.map((i) => i.path)).toEqual(['slug', 'extra']);
    expect((await call('GET', '/api/v1/projects/nope')).status).toBe(404);
  });
});

describe('servers', () => {
  it('creates, reads, patches, moves and deletes a server', async () => {
    await call('POST', '/api/v1/projects', { slug: 'stage', name: 'Staging' });
    const created = await call('POST', '/api/v1/servers', {
      name: 'web-01',
      project: 'shop',
      address: '10.0.0.1',
      port: 22,
      tags: { role: 'web' },
      owner: 'carol',
      connection: { user: 'patchbot', sudo: true },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'web-01',
      project: 'shop',
      provider: 'ssh',
      address: '10.0.0.1',
      owner: 'carol',
      tags: { role: 'web' },
    });
    const moved = await call('PATCH', '/api/v1/servers/web-01', {
      project: 'stage',
      address: 'web-01.example.com',
    });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ project: 'stage', address: 'web-01.example.com', owner: 'carol' });
    const unchanged = await call('PATCH', '/api/v1/servers/web-01', { project: 'stage' });
    expect(unchanged.status).toBe(200);
    const actions = await db.current.sql<{ action: string }[]>`
      select action from audit_events where subject_type = 'server' and subject_id = 'web-01' order by seq`;
    expect(actions.map((a) => a.action)).toEqual(['server.created', 'server.updated']);

    expect((await call('POST', '/api/v1/servers', { name: 'web-01' })).status).toBe(409);
    expect((await call('POST', '/api/v1/servers', { name: 'web-02', project: 'ghost' })).status).toBe(400);
    expect((await call('DELETE', '/api/v1/servers/web-01')).status).toBe(204);
    expect((await call('GET', '/api/v1/servers/web-01')).status).toBe(404);
    expect((await call('DELETE', '/api/v1/servers/web-01')).status).toBe(404);
  });

  it('pages through servers with a cursor and filters by project, tag and provider', async () => {
    for (let i = 1; i <= 7; i++) {
      const res = await call('POST', '/api/v1/servers', {
        name: `app-${String(i).padStart(2, '0')}`,
        project: i <= 4 ? 'shop' : 'stage',
        provider: i % 2 ? 'ssh' : 'aws',
        tags: { tier: i <= 2 ? 'gold' : 'silver' },
      });
      expect(res.status).toBe(201);
    }
    const names: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const page = await call('GET', `/api/v1/servers?limit=3${q}`);
      expect(page.status).toBe(200);
      names.push(...(page.body.items as { name: string }[]).map((s) => s.name));
      cursor = page.body.nextCursor as string | null;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(names).toEqual(['app-01', 'app-02', 'app-03', 'app-04', 'app-05', 'app-06', 'app-07']);

    const names_ = async (q: string) =>
      ((await call('GET', `/api/v1/servers?${q}`)).body.items as { name: string }[]).map((s) => s.name);
    expect(await names_('project=stage')).toEqual(['app-05', 'app-06', 'app-07']);
    expect(await names_('tag=tier=gold')).toEqual(['app-01', 'app-02']);
    expect(await names_('tag=tier')).toHaveLength(7);
    expect(await names_('provider=aws&project=shop')).toEqual(['app-02', 'app-04']);

    expect((await call('GET', '/api/v1/servers?cursor=not-a-cursor')).status).toBe(400);
    expect((await call('GET', '/api/v1/servers?limit=0')).status).toBe(400);
    expect((await call('GET', '/api/v1/servers?provider=mainframe')).status).toBe(400);
  });

  it('refuses hostile server names, addresses and login users before they can reach SSH', async () => {
    const before = await count('servers');
    const hostileNames = [
      '; rm -rf /',
      '$(reboot)',
      '`id`',
      'web-01\nweb-02',
      'wéb-01',
      '-oProxyCommand=sh',
      'web 01',
      'web|nc',
      '../etc',
      'a'.repeat(129),
      '',
    ];
    for (const name of hostileNames) {
      const res = await call('POST', '/api/v1/servers', { name });
      expect(res.status, JSON.stringify(name)).toBe(400);
      expect(res.body.error.details?.issues?.[0]?.path).toBe('name');
    }
    const hostileAddresses = [
      'host; rm -rf /',
      '$(id)',
      '-oProxyCommand=sh',
      'a b',
      'ex\u00e4mple.com',
      'h\nx',
      'fe80::1%eth0',
    ];
    for (const address of hostileAddresses) {
      const res = await call('POST', '/api/v1/servers', { name: 'ok-01', address });
      expect(res.status, JSON.stringify(address)).toBe(400);
      expect(res.body.error.details?.issues?.[0]?.path).toBe('address');
    }
    for (const user of ['root; id', '$(id)', '-oops', 'Root']) {
      const res = await call('POST', '/api/v1/servers', { name: 'ok-01', connection: { user } });
      expect(res.status, user).toBe(400);
    }
    const inPath = await call('GET', `/api/v1/servers/${encodeURIComponent('; rm -rf /')}`);
    expect(inPath.status).toBe(400);
    expect(await count('servers')).toBe(before);
    // Legitimate forms still pass.
    for (const address of ['::1', '192.168.1.10', 'db-1.internal.example.com']) {
      const res = await call('POST', '/api/v1/servers', {
        name: `ok-${address.replace(/[^a-z0-9]/gi, '')}`,
        address,
      });
      expect(res.status, address).toBe(201);
    }
  });
});

describe('inventory import', () => {
  const good = {
    projects: [{ slug: 'fleet', name: 'Fleet', description: 'imported' }],
    servers: [
      { name: 'fleet-01', project: 'fleet', address: 'fleet-01.example.com', tags: { os: 'debian' } },
      { name: 'fleet-02', project: 'fleet', address: '10.1.0.2', provider: 'aws', providerId: 'i-0abc' },
    ],
  };

  it('writes nothing when any entry is bad, and lists every bad entry with its index and field', async () => {
    const servers = await count('servers');
    const projects = await count('projects');
    const events = await count('audit_events');
    const res = await call('POST', '/api/v1/inventory/import', {
      projects: [...good.projects, { slug: 'Nope!', name: 'x' }],
      servers: [
        ...good.servers,
        { name: '$(reboot)', project: 'fleet' },
        { name: 'fleet-04', address: 'a b' },
        { name: 'fleet-05', project: 'fleet', colour: 'red' },
      ],
    });
    expect(res.status).toBe(400);
    const issues = res.body.error.details?.issues ?? [];
    expect(issues.map((i) => [i.section, i.index, i.field])).toEqual([
      ['projects', 1, 'slug'],
      ['servers', 2, 'name'],
      ['servers', 3, 'address'],
      ['servers', 4, 'colour'],
    ]);
    expect(res.body.error.message).toMatch(/servers\[2\]\.name: a server name is/);
    expect(await count('servers')).toBe(servers);
    expect(await count('projects')).toBe(projects);
    expect(await count('audit_events')).toBe(events);
  });

  it('reports references to things that do not exist, all at once, and writes nothing', async () => {
    const servers = await count('servers');
    const res = await call('POST', '/api/v1/inventory/import', {
      servers: [
        { name: 'ref-01', project: 'ghost' },
        { name: 'ref-02', owner: 'nobody' },
        { name: 'ref-03', connection: { jump: 'no-such-bastion' } },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body.error.details?.issues?.map((i) => `${i.index}:${i.field}`)).toEqual([
      '0:project',
      '1:owner',
      '2:connection.jump',
    ]);
    expect(await count('servers')).toBe(servers);
  });

  it('imports a document in one go, and importing it again changes nothing', async () => {
    const first = await call('POST', '/api/v1/inventory/import', good);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      projects: { created: ['fleet'], updated: [], unchanged: [] },
      servers: { created: ['fleet-01', 'fleet-02'], updated: [], unchanged: [] },
    });
    const events = await count('audit_events');
    const again = await call('POST', '/api/v1/inventory/import', good);
    expect(again.body).toEqual({
      projects: { created: [], updated: [], unchanged: ['fleet'] },
      servers: { created: [], updated: [], unchanged: ['fleet-01', 'fleet-02'] },
    });
    expect(await count('audit_events')).toBe(events);
    const server = await call('GET', '/api/v1/servers/fleet-02');
    expect(server.body).toMatchObject({ project: 'fleet', provider: 'aws', providerId: 'i-0abc' });
  });

  it('rolls back every write when the database refuses one entry halfway through', async () => {
    await db.current.sql`insert into accounts (name, provider) values ('aws-main', 'aws')`;
    const first = await call('POST', '/api/v1/inventory/import', {
      servers: [{ name: 'acct-01', account: 'aws-main', provider: 'aws', providerId: 'i-1' }],
    });
    expect(first.status).toBe(200);
    const servers = await count('servers');
    const events = await count('audit_events');
    // new-01 is written first; acct-02 then collides with acct-01's provider id in the same account.
    const res = await call('POST', '/api/v1/inventory/import', {
      servers: [
        { name: 'new-01', address: '10.9.0.1' },
        { name: 'acct-02', account: 'aws-main', provider: 'aws', providerId: 'i-1' },
      ],
    });
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(/nothing was imported/);
    expect((await call('GET', '/api/v1/servers/new-01')).status).toBe(404);
    expect(await count('servers')).toBe(servers);
    expect(await count('audit_events')).toBe(events);
  });

  it('accepts YAML by Content-Type and updates only what changed', async () => {
    const yaml = [
      'servers:',
      '  - name: fleet-01',
      '    project: fleet',
      '    address: fleet-01.example.com',
      '    tags: { os: debian, tier: gold }',
      '  - name: fleet-03',
      '    project: fleet',
      '    address: 10.1.0.3',
      '',
    ].join('\n');
    const res = await call('POST', '/api/v1/inventory/import', yaml, 'application/yaml');
    expect(res.status).toBe(200);
    expect(res.body.servers).toEqual({ created: ['fleet-03'], updated: ['fleet-01'], unchanged: [] });
    const changed = await db.current.sql<{ data: Json }[]>`
      select data from audit_events where action = 'server.updated' and subject_id = 'fleet-01'`;
    expect(changed[0]!.data).toMatchObject({
      source: 'import',
      changes: { tags: { to: { os: 'debian', tier: 'gold' } } },
    });
  });

  it('refuses bodies it cannot read: broken YAML or JSON, the wrong media type, YAML tags', async () => {
    expect((await call('POST', '/api/v1/inventory/import', 'servers: [ {', 'application/yaml')).status).toBe(
      400,
    );
    expect((await call('POST', '/api/v1/inventory/import', '{"servers": [', 'application/json')).status).toBe(
      400,
    );
    const plain = await call('POST', '/api/v1/inventory/import', 'servers: []', 'text/plain');
    expect(plain.status).toBe(400);
    expect(plain.body.error.message).toMatch(/Content-Type application\/json or application\/yaml/);
    const tagged = await call(
      'POST',
      '/api/v1/inventory/import',
      'servers: !!js/function "x"',
      'application/yaml',
    );
    expect(tagged.status).toBe(400);
    // "Billion laughs": each anchor repeats the one before nine times.
    const letters = 'abcdefghi';
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < letters.length; i++) {
      bomb.push(
        `${letters[i]}: &${letters[i]} [${Array(9)
          .fill(`*${letters[i - 1]}`)
          .join(', ')}]`,
      );
    }
    const exploded = await call('POST', '/api/v1/inventory/import', bomb.join('\n'), 'application/yaml');
    expect(exploded.status).toBe(400);
    expect(exploded.body.error.message).toMatch(/alias/i);
  });
});

describe('audit over the API', () => {
  it('lists events with filters and pages by seq, and verifies the chain', async () => {
    const all = await call('GET', '/api/v1/audit/events?action=server.*&limit=2');
    expect(all.status).toBe(200);
    const items = all.body.items as { seq: number; action: string }[];
    expect(items).toHaveLength(2);
    expect(items.every((e) => e.action.startsWith('server.'))).toBe(true);
    const next = await call(
      'GET',
      `/api/v1/audit/events?action=server.*&limit=2&cursor=${all.body.nextCursor}`,
    );
    expect((next.body.items as { seq: number }[])[0]!.seq).toBeGreaterThan(items[1]!.seq);

    const bySubject = await call('GET', '/api/v1/audit/events?subject=project:shop');
    expect((bySubject.body.items as { action: string }[]).map((e) => e.action)).toEqual([
      'project.created',
      'project.updated',
    ]);
    const byProject = await call('GET', '/api/v1/audit/events?project=fleet&actor=user:root');
    expect((byProject.body.items as unknown[]).length).toBeGreaterThan(0);
    const since = await call(
      'GET',
      `/api/v1/audit/events?since=${encodeURIComponent('2100-01-01T00:00:00Z')}`,
    );
    expect(since.body.items).toEqual([]);

    const verified = await call('POST', '/api/v1/audit/verify');
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({ ok: true });
    expect(verified.body.checked).toBe(await count('audit_events'));
  });
});
