import type { Hono } from 'hono';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createScriptedTargets,
  finding,
  insertTestServer,
  type ScriptedTargets,
  scanResult,
} from '../../../commands/scanning/testing.js';
import { useTestDatabase } from '../../../test/db.js';
import { createTestDeps, type TestDeps } from '../../../test/deps.js';
import { createApp } from '../../app.js';
import type { AppEnv } from '../../http/context.js';
import { bearer, ensureProject, seedUser, tokenFor } from '../testing.js';

const db = useTestDatabase('api-scanning');
let deps: TestDeps;
let app: Hono<AppEnv>;
let targets: ScriptedTargets;
let operatorToken: string;
let readOnlyToken: string;
let otherProjectToken: string;

type Json = Record<string, unknown> & {
  items?: Json[];
  nextCursor?: string | null;
  batch?: Json;
  scans?: Json[];
  findings?: Json[];
  error?: { code: string; message: string };
};

beforeAll(async () => {
  const { sql } = db.current;
  targets = createScriptedTargets((server) =>
    server === 'api-2'
      ? new Error('Could not reach 10.0.0.2:22 over SSH (ECONNREFUSED).')
      : scanResult([
          finding('openssl', { classification: 'security', severity: 'critical', cves: ['CVE-2024-0001'] }),
          finding('zlib', { classification: 'security', severity: 'low' }),
          finding('curl'),
        ]),
  );
  deps = createTestDeps(sql, { targets });
  app = createApp({ deps });
  const shop = await ensureProject(sql, 'shop');
  const other = await ensureProject(sql, 'other');
  await insertTestServer(sql, { name: 'api-1', projectId: shop.id, address: '10.0.0.1' });
  await insertTestServer(sql, { name: 'api-2', projectId: shop.id, address: '10.0.0.2' });
  await insertTestServer(sql, { name: 'api-3', projectId: other.id, address: '10.0.0.3' });
  const olga = await seedUser(sql, 'olga', [
    { role: 'operator', project: 'shop' },
    { role: 'operator', project: 'other' },
  ]);
  operatorToken = await tokenFor(deps, olga, ['scan:run', 'inventory:read']);
  readOnlyToken = await tokenFor(deps, olga, ['inventory:read'], { name: 'read' });
  otherProjectToken = await tokenFor(deps, olga, ['inventory:read'], { name: 'other', projectSlug: 'other' });
});

async function call(method: string, path: string, token: string, body?: unknown) {
  const res = await app.request(path, {
    method,
    headers: bearer(token, body === undefined ? {} : { 'content-type': 'application/json' }),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

async function scanAndWait(scope: string): Promise<number> {
  const started = await call('POST', '/api/v1/scans', operatorToken, { scope });
  expect(started.status).toBe(202);
  const id = started.body.batch!.id as number;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { body } = await call('GET', `/api/v1/scans/${id}`, operatorToken);
    if (body.batch?.status === 'done') return id;
    if (Date.now() > deadline) throw new Error(`batch ${id} did not finish`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('scanning API', () => {
  it('accepts a scan with 202, then reports each server of the batch with its reason', async () => {
    const started = await call('POST', '/api/v1/scans', operatorToken, { scope: 'shop' });
    expect(started.status).toBe(202);
    expect(started.body.batch).toMatchObject({
      scope: 'shop',
      scopeKind: 'project',
      status: 'running',
      total: 2,
    });
    const id = started.body.batch!.id as number;
    const deadline = Date.now() + 20_000;
    let batch: Json;
    for (;;) {
      batch = (await call('GET', `/api/v1/scans/${id}`, operatorToken)).body;
      if (batch.batch?.status === 'done' || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(batch.batch).toMatchObject({
      status: 'done',
      done: 2,
      failed: 1,
      requestedBy: 'user:olga',
      triggeredBy: 'api',
    });
    expect(batch.scans?.map((s) => [s.server, s.status, s.errorKind])).toEqual([
      ['api-1', 'succeeded', null],
      ['api-2', 'failed', 'command-failed'],
    ]);
    const list = await call('GET', '/api/v1/scans?project=shop', readOnlyToken);
    expect(list.body.items?.map((b) => b.id)).toEqual([id]);
  });

  it('refuses a scan to a token without scan:run, and a bad scope, starting nothing', async () => {
    expect((await call('POST', '/api/v1/scans', readOnlyToken, { scope: 'shop' })).status).toBe(403);
    const bad = await call('POST', '/api/v1/scans', operatorToken, { scope: '$(reboot)' });
    expect(bad.status).toBe(400);
    expect((await call('POST', '/api/v1/scans', operatorToken, { scope: 'shop', extra: 1 })).status).toBe(
      400,
    );
    expect((await call('GET', '/api/v1/scans', readOnlyToken)).body.items).toHaveLength(1);
  });

  it("shows a server's findings with their ages and whether the result is stale", async () => {
    deps.clock.advance(3_600_000);
    const { status, body } = await call('GET', '/api/v1/servers/api-1/findings', readOnlyToken);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      server: 'api-1',
      project: 'shop',
      result: { stale: false, ageSeconds: 3600, staleAfterSeconds: 8 * 86_400 },
      lastScan: { status: 'succeeded', errorKind: null },
    });
    expect(body.findings?.map((f) => [f.package, f.classification, f.severity, f.pendingSeconds])).toEqual([
      ['openssl', 'security', 'critical', 3600],
      ['zlib', 'security', 'low', 3600],
      ['curl', 'other', 'unknown', 3600],
    ]);
    const never = await call('GET', '/api/v1/servers/api-3/findings', readOnlyToken);
    expect(never.body).toMatchObject({ result: { stale: true, ageSeconds: null }, findings: [] });
    expect((await call('GET', '/api/v1/servers/nope/findings', readOnlyToken)).status).toBe(404);
  });

  it('lists findings across servers with filters and cursor pagination, within the token project', async () => {
    await scanAndWait('api-3');
    const security = await call('GET', '/api/v1/findings?classification=security&limit=2', readOnlyToken);
    expect(security.body.items?.map((f) => [f.server, f.package])).toEqual([
      ['api-1', 'openssl'],
      ['api-1', 'zlib'],
    ]);
    const next = await call(
      'GET',
      `/api/v1/findings?classification=security&limit=2&cursor=${security.body.nextCursor}`,
      readOnlyToken,
    );
    expect(next.body.items?.map((f) => [f.server, f.package])).toEqual([
      ['api-3', 'openssl'],
      ['api-3', 'zlib'],
    ]);
    expect(next.body.nextCursor).toBeNull();
    const byCve = await call('GET', '/api/v1/findings?cve=CVE-2024-0001&severity=critical', readOnlyToken);
    expect(byCve.body.items?.map((f) => f.server)).toEqual(['api-1', 'api-3']);
    expect(byCve.body.items?.[0]).toMatchObject({ project: 'shop', result: { stale: false } });
    const scoped = await call('GET', '/api/v1/findings', otherProjectToken);
    expect(new Set(scoped.body.items?.map((f) => f.server))).toEqual(new Set(['api-3']));
    expect((await call('GET', '/api/v1/findings?cve=CVE-1;drop', readOnlyToken)).status).toBe(400);
    expect((await call('GET', '/api/v1/findings?cursor=garbage', readOnlyToken)).status).toBe(400);
  });
});
