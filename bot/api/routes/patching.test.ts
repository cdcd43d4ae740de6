import type { Hono } from 'hono';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PATCH_POLICY } from '../../../commands/patching/policy.js';
import { createTestFleet, patchApprovalSubjectMap } from '../../../commands/patching/testing.js';
import { finding } from '../../../commands/scanning/testing.js';
import { useTestDatabase } from '../../../test/db.js';
import { createTestDeps, type TestDeps } from '../../../test/deps.js';
import { createApp } from '../../app.js';
import type { AppEnv } from '../../http/context.js';
import { bearer, seedUser, tokenFor } from '../testing.js';

const db = useTestDatabase('api-patching');
let deps: TestDeps;
let app: Hono<AppEnv>;
let planner: string;
let reader: string;
let slug: string;

/** Response bodies as the tests read them. */
interface Json {
  [key: string]: unknown;
  error?: { code: string; details: { issues: { path: string }[] } };
  policy?: { windows: { cutoffMinutes: number; durationMinutes: number }[]; headsUpMinutes: number };
  items?: Json[];
  plan?: { id: number };
  paths?: Record<string, Record<string, Json | undefined>>;
  requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown> } }> };
}

beforeAll(async () => {
  deps = createTestDeps(db.current.sql, { approvalSubjects: patchApprovalSubjectMap() });
  app = createApp({ deps });
  const fleet = await createTestFleet(deps, {
    slug: 'api-shop',
    servers: [
      {
        name: 'api-web-1',
        findings: [
          finding('openssl', {
            installedVersion: '3.0.11-1',
            candidateVersion: '3.0.13-1',
            classification: 'security',
            severity: 'critical',
            cves: ['CVE-2024-0727'],
          }),
        ],
      },
    ],
  });
  slug = fleet.project.slug;
  const pat = await seedUser(deps.sql, 'pat-api', [{ role: 'patch-manager', project: slug }]);
  const olga = await seedUser(deps.sql, 'olga-api', [{ role: 'operator', project: slug }]);
  planner = await tokenFor(deps, pat, ['patch:plan', 'inventory:read']);
  reader = await tokenFor(deps, olga, ['inventory:read']);
});

async function call(method: string, path: string, token: string, body?: unknown, type = 'application/json') {
  const res = await app.request(path, {
    method,
    headers: bearer(token, body === undefined ? {} : { 'content-type': type }),
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

describe('the patch policy over the API', () => {
  it('shows the default policy of a project that has none', async () => {
    const { status, body } = await call('GET', `/api/v1/projects/${slug}/patch-policy`, reader);
    expect(status).toBe(200);
    expect(body.default).toBe(true);
    expect(body.policy).toEqual(JSON.parse(JSON.stringify(DEFAULT_PATCH_POLICY)));
  });

  it('validates a new policy with the same schema and says where each problem is', async () => {
    const bad = await call('PUT', `/api/v1/projects/${slug}/patch-policy`, planner, {
      windows: [{ cron: 'often', durationMinutes: 60 }],
      rings: [{ name: 'Canary!', match: 'rest' }],
      reboot: { rule: 'sometimes' },
    });
    expect(bad.status).toBe(400);
    const paths = bad.body.error!.details.issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['windows[0].cron', 'rings[0].name', 'reboot.rule']));
    const forbidden = await call('PUT', `/api/v1/projects/${slug}/patch-policy`, reader, {});
    expect(forbidden.status).toBe(403);
  });

  it('stores a valid policy, from JSON or YAML, and shows it back', async () => {
    const put = await call('PUT', `/api/v1/projects/${slug}/patch-policy`, planner, {
      windows: [{ cron: '0 2 * * 6', timezone: 'Europe/Paris', durationMinutes: 120, cutoffMinutes: 15 }],
      headsUpMinutes: 30,
    });
    expect(put.status).toBe(200);
    expect(put.body.policy!.windows[0]!.cutoffMinutes).toBe(15);
    const yaml = await call(
      'PUT',
      `/api/v1/projects/${slug}/patch-policy`,
      planner,
      'windows:\n  - cron: "0 2 * * 6"\n    timezone: Europe/Paris\n    durationMinutes: 180\nheadsUpMinutes: 45\n',
      'application/yaml',
    );
    expect(yaml.status).toBe(200);
    const got = await call('GET', `/api/v1/projects/${slug}/patch-policy`, reader);
    expect(got.body).toMatchObject({
      default: false,
      updatedBy: 'user:pat-api',
      policy: { headsUpMinutes: 45 },
    });
    expect(got.body.policy!.windows[0]!.durationMinutes).toBe(180);
  });

  it('publishes the policy schema field by field in the OpenAPI document', async () => {
    const res = await app.request('/api/v1/openapi.json');
    const doc = (await res.json()) as Json;
    const put = doc.paths!['/projects/{slug}/patch-policy']!.put!;
    const schema = put.requestBody!.content['application/json']!.schema;
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining([
        'classifications',
        'minimumSeverity',
        'autoApproveAfterDays',
        'exclusions',
        'exceptions',
        'windows',
        'rings',
        'backups',
        'reboot',
        'preCommands',
        'postCommands',
        'checks',
        'headsUpMinutes',
      ]),
    );
    expect(put['x-permission']).toBe('patch:plan');
    expect(doc.paths!['/plans']!.post).toBeDefined();
    expect(doc.paths!['/plans/{id}']!.get).toBeDefined();
  });
});

describe('plans over the API', () => {
  it('builds a plan, lists it and shows it with its items and policy snapshot', async () => {
    const built = await call('POST', '/api/v1/plans', planner, { project: slug });
    expect(built.status).toBe(200);
    expect(built.body.outcome).toBe('created');
    expect(built.body.items).toEqual([
      expect.objectContaining({
        server: 'api-web-1',
        package: 'openssl',
        fromVersion: '3.0.11-1',
        toVersion: '3.0.13-1',
        ringName: 'canary',
        cves: ['CVE-2024-0727'],
      }),
    ]);
    const id = built.body.plan!.id;
    const again = await call('POST', '/api/v1/plans', planner, { project: slug });
    expect(again.body).toMatchObject({ outcome: 'unchanged', plan: { id } });
    const list = await call('GET', `/api/v1/plans?project=${slug}`, reader);
    expect(list.body.items!.map((p) => p.id)).toContain(id);
    const one = await call('GET', `/api/v1/plans/${id}`, reader);
    expect(one.body.plan).toMatchObject({ id, status: 'awaiting-approval', packages: 1, servers: 1 });
    expect(one.body.policy!.headsUpMinutes).toBe(45);
    expect((await call('POST', '/api/v1/plans', reader, { project: slug })).status).toBe(403);
    expect((await call('GET', '/api/v1/plans/999999', reader)).status).toBe(404);
  });
});
