import type { Hono } from 'hono';
import { beforeAll, describe, expect, it } from 'vitest';
import { addServer, recordingTargets } from '../../../commands/access/testing.js';
import { useTestDatabase } from '../../../test/db.js';
import { createTestDeps, type TestDeps } from '../../../test/deps.js';
import { createApp } from '../../app.js';
import type { AppEnv } from '../../http/context.js';
import { bearer, ensureProject, seedUser, tokenFor } from '../testing.js';

const db = useTestDatabase('api-access-ca');
let deps: TestDeps;
let app: Hono<AppEnv>;
let adminToken: string;
let operatorToken: string;
let kicks = 0;

beforeAll(async () => {
  // every server call fails loudly: the route must not reach a server before it answers
  const { factory } = recordingTargets();
  deps = createTestDeps(db.current.sql, { targets: factory, kickOutbox: () => kicks++ });
  app = createApp({ deps });
  const web = await ensureProject(db.current.sql, 'web');
  for (const name of ['web-1', 'web-2']) await addServer(db.current.sql, { name, projectId: web.id });
  const root = await seedUser(db.current.sql, 'root', [{ role: 'admin' }]);
  const op = await seedUser(db.current.sql, 'olga', [{ role: 'operator', project: 'web' }]);
  adminToken = await tokenFor(deps, root, ['keys:manage']);
  operatorToken = await tokenFor(deps, op, ['access:request']);
});

async function install(token: string, slug: string) {
  const res = await app.request(`/api/v1/projects/${encodeURIComponent(slug)}/ca-install`, {
    method: 'POST',
    headers: bearer(token),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function queued(): Promise<number> {
  const [row] = await db.current.sql<{ n: number }[]>`
    select count(*)::int as n from outbox where channel = 'access' and kind = 'ca-install' and status = 'pending'`;
  return row!.n;
}

describe('the CA install route', () => {
  it('answers 202 at once with the servers it queued, and wakes the outbox worker', async () => {
    const { status, body } = await install(adminToken, 'web');
    expect(status).toBe(202);
    expect(body).toMatchObject({
      project: 'web',
      servers: 2,
      caFingerprint: expect.stringMatching(/^SHA256:/),
    });
    expect(body.run).toMatch(/^web:/);
    expect(await queued()).toBe(1);
    expect(kicks).toBe(1);
  });

  it('refuses someone without keys:manage and an unknown or hostile project, queueing nothing', async () => {
    const before = await queued();
    expect((await install(operatorToken, 'web')).status).toBe(403);
    expect((await install(adminToken, 'nope')).status).toBe(404);
    expect((await install(adminToken, 'web; rm -rf /')).status).toBe(400);
    expect(await queued()).toBe(before);
  });
});
