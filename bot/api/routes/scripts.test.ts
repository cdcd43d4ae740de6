import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApprovalSubjects } from '../../../commands/approvals/subjects.js';
import { createTargetFactory } from '../../../commands/scanning/target-factory.js';
import { executeRun } from '../../../commands/scripts/execute.js';
import { scriptRunSubject } from '../../../commands/scripts/run-subject.js';
import { addServer } from '../../../commands/scripts/testing.js';
import { scriptVersionSubject } from '../../../commands/scripts/versions.js';
import { useTestDatabase } from '../../../test/db.js';
import { createTestDeps, type TestDeps } from '../../../test/deps.js';
import { createApp } from '../../app.js';
import type { AppEnv } from '../../http/context.js';
import { bearer, ensureProject, seedUser, tokenFor } from '../testing.js';

const db = useTestDatabase('api-scripts');
let deps: TestDeps;
let app: Hono<AppEnv>;
let adminToken: string;
let operatorToken: string;
let readOnlyToken: string;
let approverToken: string;

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read loosely in tests
type Json = Record<string, any>;

async function call(
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; json: Json }> {
  const res = await app.request(`/api/v1${path}`, {
    method,
    headers: bearer(token, body === undefined ? {} : { 'content-type': 'application/json' }),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: res.status === 204 ? {} : ((await res.json()) as Json) };
}

beforeAll(async () => {
  const { sql } = db.current;
  deps = createTestDeps(sql, {
    targets: createTargetFactory(),
    approvalSubjects: createApprovalSubjects([scriptVersionSubject, scriptRunSubject]),
  });
  app = createApp({ deps });
  const ops = await ensureProject(sql, 'ops');
  await addServer(sql, { name: 'api-script-1', projectId: ops.id });
  await addServer(sql, { name: 'api-script-2', projectId: ops.id });
  const root = await seedUser(sql, 'script-admin', [{ role: 'admin', project: null }]);
  const olga = await seedUser(sql, 'script-olga', [{ role: 'operator', project: 'ops' }]);
  adminToken = await tokenFor(deps, root, ['sop:manage', 'webhooks:manage', 'audit:read']);
  operatorToken = await tokenFor(deps, olga, ['sop:run:*']);
  readOnlyToken = await tokenFor(deps, olga, ['inventory:read'], { name: 'read' });
  const anna = await seedUser(sql, 'script-anna', [{ role: 'approver', project: null }]);
  approverToken = await tokenFor(deps, anna, ['sop:approve']);
});
afterAll(async () => {
  await deps.targets?.close();
});

describe('scripts and runs over the API', () => {
  it('creates a script, shows it with its params, and versions a change with a diff', async () => {
    const created = await call('POST', '/scripts', adminToken, {
      name: 'disk-usage',
      description: 'Show disk usage of a path',
      body: 'du -sh -- "$1"',
      params: [{ name: 'path', type: 'string', pattern: '/[A-Za-z0-9/._-]*' }],
      timeout: '30s',
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      changed: true,
      approvalId: null,
      script: { name: 'disk-usage', version: 1, timeout: '30s' },
    });
    const changed = await call('PATCH', '/scripts/disk-usage', adminToken, {
      body: 'du -sh -- "$WARDEN_PARAM_PATH"',
    });
    expect(changed.json.script.diff).toContain('+du -sh -- "$WARDEN_PARAM_PATH"');
    const versions = await call('GET', '/scripts/disk-usage/versions', operatorToken);
    expect(versions.json.items.map((v: Json) => v.version)).toEqual([2, 1]);
    const v1 = await call('GET', '/scripts/disk-usage/versions/1', operatorToken);
    expect(v1.json.body).toBe('du -sh -- "$1"\n');
    const refused = await call('POST', '/scripts', operatorToken, { name: 'x', description: 'x', body: 'x' });
    expect(refused.status).toBe(403);
  });

  it('refuses a bad script or bad parameters with 400 and the issues', async () => {
    const bad = await call('POST', '/scripts', adminToken, { name: 'Bad Name', description: '', body: '' });
    expect(bad.status).toBe(400);
    expect(bad.json.error.details.issues.map((i: Json) => i.path).sort()).toEqual([
      'body',
      'description',
      'name',
    ]);
    const run = await call('POST', '/script-runs', operatorToken, {
      script: 'disk-usage',
      target: 'ops',
      params: { path: '$(reboot)' },
    });
    expect(run.status).toBe(400);
    expect(run.json.error.details.issues).toEqual([
      { path: 'params.path', message: expect.stringContaining('parameter path must match') },
    ]);
  });

  it('starts a run, reports each server and serves the full output; a run cannot be cancelled twice', async () => {
    const started = await call('POST', '/script-runs', operatorToken, {
      script: 'disk-usage',
      target: 'project:ops',
      params: { path: '/etc/hostname' },
    });
    expect(started.status).toBe(201);
    expect(started.json).toMatchObject({
      status: 'queued',
      serverCount: 2,
      target: { kind: 'project', value: 'ops' },
    });
    await executeRun(deps, started.json.id);
    const detail = await call('GET', `/script-runs/${started.json.id}`, operatorToken);
    expect(detail.json.status).toBe('succeeded');
    expect(detail.json.servers.map((s: Json) => [s.server, s.status, s.exitCode])).toEqual([
      ['api-script-1', 'succeeded', 0],
      ['api-script-2', 'succeeded', 0],
    ]);
    const output = await call(
      'GET',
      `/script-runs/${started.json.id}/servers/api-script-1/output`,
      operatorToken,
    );
    expect(output.json.stdout).toMatch(/\t\/etc\/hostname\n$/);
    const list = await call('GET', '/script-runs?script=disk-usage&limit=1', adminToken);
    expect(list.json.items).toHaveLength(1);
    expect(list.json.nextCursor).toEqual(expect.any(String));
    const cancel = await call('POST', `/script-runs/${started.json.id}/cancel`, operatorToken);
    expect(cancel.status).toBe(409);
    const hidden = await call('GET', `/script-runs/${started.json.id}`, readOnlyToken);
    expect(hidden.status).toBe(404);
  });

  it('reviews a high-risk script and approves its run through the approvals API', async () => {
    const created = await call('POST', '/scripts', adminToken, {
      name: 'restart-all',
      description: 'Restart everything',
      body: 'echo restarting',
      risk: 'high',
    });
    expect(created.json).toMatchObject({ approvalId: expect.any(Number), script: { review: 'pending' } });
    const waiting = await call('GET', '/approvals', approverToken);
    expect(waiting.json.toDecide.map((a: Json) => a.id)).toContain(created.json.approvalId);
    const reviewed = await call('POST', `/approvals/${created.json.approvalId}/approve`, approverToken, {
      comment: 'read it',
    });
    expect(reviewed.json).toMatchObject({
      outcome: 'approved',
      approval: { status: 'approved', decisions: [{ approver: 'script-anna', comment: 'read it' }] },
    });
    const run = await call('POST', '/script-runs', operatorToken, {
      script: 'restart-all',
      target: 'api-script-1',
    });
    expect(run.json).toMatchObject({ status: 'awaiting-approval', approvalId: expect.any(Number) });
    const denied = await call('POST', `/approvals/${run.json.approvalId}/approve`, operatorToken, {});
    expect(denied.status).toBe(403);
    await call('POST', `/approvals/${run.json.approvalId}/approve`, approverToken, {});
    expect((await call('GET', `/script-runs/${run.json.id}`, operatorToken)).json.status).toBe('queued');
  });

  it('manages webhook subscriptions and shows the secret only once', async () => {
    const created = await call('POST', '/webhooks', adminToken, {
      project: 'ops',
      url: 'https://hooks.example.com/warden',
      events: ['script-run.*'],
    });
    expect(created.status).toBe(201);
    expect(created.json.secret).toMatch(/^whsec_/);
    const id = created.json.webhook.id;
    const shown = await call('GET', `/webhooks/${id}`, adminToken);
    expect(JSON.stringify(shown.json)).not.toContain(created.json.secret);
    const paused = await call('PATCH', `/webhooks/${id}`, adminToken, { active: false });
    expect(paused.json.active).toBe(false);
    const rotated = await call('POST', `/webhooks/${id}/rotate-secret`, adminToken);
    expect(rotated.json.secret).not.toBe(created.json.secret);
    expect((await call('GET', `/webhooks/${id}/deliveries`, adminToken)).json).toEqual({
      items: [],
      nextCursor: null,
    });
    expect((await call('GET', '/webhooks', operatorToken)).status).toBe(403);
    expect((await call('DELETE', `/webhooks/${id}`, adminToken)).status).toBe(204);
    expect((await call('GET', `/webhooks/${id}`, adminToken)).status).toBe(404);
  });
});
