import Ajv2020 from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps } from '../../test/deps.js';
import { createApp } from '../app.js';
import { API_ROUTES } from './index.js';
import { bearer, seedUser, tokenFor } from './testing.js';

const db = useTestDatabase('api-openapi');

interface Operation {
  operationId: string;
  'x-permission': string | null;
  parameters: { name: string; in: string; schema: object }[];
  requestBody?: { content: Record<string, { schema: object }> };
  responses: Record<string, { content?: Record<string, { schema: object }> }>;
}
interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, object> };
}

async function fetchDocument() {
  const app = createApp({ deps: createTestDeps(db.current.sql) });
  const res = await app.request('/api/v1/openapi.json');
  expect(res.status).toBe(200);
  return { app, doc: (await res.json()) as OpenApiDoc };
}

function compiler() {
  // strict: an unknown keyword or a malformed schema is an error, not silently ignored.
  return new Ajv2020.default({ strict: true, validateFormats: false, allErrors: true });
}

describe('OpenAPI document', () => {
  it('is public and lists every route with its permission', async () => {
    const { doc } = await fetchDocument();
    expect(doc.openapi).toBe('3.1.0');
    const listed = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => `${method.toUpperCase()} ${path} ${op['x-permission']}`),
    );
    expect(listed.sort()).toEqual(
      [
        'GET /projects inventory:read',
        'POST /projects inventory:write',
        'POST /projects/{slug}/ca-install keys:manage',
        'GET /projects/{slug} inventory:read',
        'PATCH /projects/{slug} inventory:write',
        'GET /servers inventory:read',
        'POST /servers inventory:write',
        'GET /servers/{name} inventory:read',
        'PATCH /servers/{name} inventory:write',
        'DELETE /servers/{name} inventory:write',
        'POST /inventory/import inventory:write',
        'GET /accounts inventory:read',
        'POST /accounts inventory:write',
        'GET /audit/events audit:read',
        'POST /audit/verify audit:verify',
        'GET /tokens null',
        'POST /tokens null',
        'DELETE /tokens/{id} null',
        'POST /access/requests access:request',
        'GET /scans inventory:read',
        'POST /scans scan:run',
        'GET /scans/{id} inventory:read',
        'GET /servers/{name}/findings inventory:read',
        'GET /findings inventory:read',
        'GET /projects/{slug}/patch-policy inventory:read',
        'PUT /projects/{slug}/patch-policy patch:plan',
        'POST /plans patch:plan',
        'GET /plans inventory:read',
        'GET /plans/{id} inventory:read',
        'GET /grants null',
        'GET /grants/{id}/certificate null',
        'POST /grants/{id}/revoke null',
        'GET /keys null',
        'POST /keys access:request',
        'POST /keys/handover keys:manage',
        'GET /audit/report audit:read',
        'GET /approvals null',
        'GET /approvals/{id} null',
        'POST /approvals/{id}/approve null',
        'POST /approvals/{id}/deny null',
        'POST /approvals/{id}/cancel null',
        'GET /scripts null',
        'POST /scripts sop:manage',
        'POST /scripts/import sop:manage',
        'GET /scripts/{name} null',
        'PATCH /scripts/{name} sop:manage',
        'GET /scripts/{name}/versions null',
        'GET /scripts/{name}/versions/{version} null',
        'POST /script-runs null',
        'GET /script-runs null',
        'GET /script-runs/{id} null',
        'GET /script-runs/{id}/servers/{server}/output null',
        'POST /script-runs/{id}/cancel null',
        'GET /webhooks webhooks:manage',
        'POST /webhooks webhooks:manage',
        'GET /webhooks/{id} webhooks:manage',
        'PATCH /webhooks/{id} webhooks:manage',
        'DELETE /webhooks/{id} webhooks:manage',
        'POST /webhooks/{id}/rotate-secret webhooks:manage',
        'GET /webhooks/{id}/deliveries webhooks:manage',
        'GET /reports/{kind} compliance:read',
        'GET /baselines compliance:read',
        'GET /servers/{name}/baseline compliance:read',
        'POST /servers/{name}/baseline/run scan:run',
        'POST /baseline-remediations baseline:remediate',
        'GET /users users:manage',
        'POST /users users:manage',
        'POST /users/{handle}/roles users:manage',
        'DELETE /users/{handle}/roles users:manage',
        'POST /users/{handle}/disable users:manage',
        'GET /projects/{slug}/settings inventory:read',
        'PUT /projects/{slug}/settings/{section} inventory:write',
        'GET /service-keys keys:manage',
        'POST /service-keys keys:manage',
      ].sort(),
    );
    expect(listed).toHaveLength(API_ROUTES.length);
    expect(doc.paths['/inventory/import']!.post!.requestBody!.content).toHaveProperty('application/yaml');
    const serverParams = doc.paths['/servers']!.get!.parameters.map((p) => `${p.in}:${p.name}`);
    expect(serverParams).toEqual([
      'query:project',
      'query:tag',
      'query:provider',
      'query:limit',
      'query:cursor',
    ]);
  });

  it('holds only valid JSON Schema objects, built from the schemas that validate requests', async () => {
    const { doc } = await fetchDocument();
    const ajv = compiler();
    let compiled = 0;
    const check = (schema: object, where: string) => {
      expect(typeof schema, where).toBe('object');
      expect(() => ajv.compile(schema), where).not.toThrow();
      compiled++;
    };
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        for (const p of op.parameters) check(p.schema, `${method} ${path} ${p.name}`);
        for (const [type, media] of Object.entries(op.requestBody?.content ?? {}))
          check(media.schema, `${method} ${path} ${type}`);
        for (const [status, r] of Object.entries(op.responses)) {
          const media = r.content?.['application/json'];
          if (media && !('$ref' in media.schema)) check(media.schema, `${method} ${path} ${status}`);
        }
      }
    }
    check(doc.components.schemas.Error!, 'Error');
    expect(compiled).toBeGreaterThan(30);

    // The document's server-name pattern is the validator's: it refuses what the API refuses.
    const validateServer = ajv.compile(
      doc.paths['/servers']!.post!.requestBody!.content['application/json']!.schema,
    );
    expect(validateServer({ name: 'web-01', address: '10.0.0.1' })).toBe(true);
    expect(validateServer({ name: '; rm -rf /' })).toBe(false);
    expect(validateServer({ name: 'web-01', colour: 'red' })).toBe(false);
  });

  it('describes the responses the API really sends', async () => {
    const { app, doc } = await fetchDocument();
    const deps = createTestDeps(db.current.sql);
    const admin = await seedUser(db.current.sql, 'root', [{ role: 'admin' }]);
    const token = await tokenFor(deps, admin, ['inventory:read', 'inventory:write']);
    const ajv = compiler();
    const post = await app.request('/api/v1/servers', {
      method: 'POST',
      headers: bearer(token, { 'content-type': 'application/json' }),
      body: JSON.stringify({ name: 'doc-01', tags: { a: 'b' } }),
    });
    const created = ajv.compile(
      doc.paths['/servers']!.post!.responses['201']!.content!['application/json']!.schema,
    );
    expect(created(await post.json()), JSON.stringify(created.errors)).toBe(true);
    const list = await app.request('/api/v1/servers', { headers: bearer(token) });
    const page = ajv.compile(
      doc.paths['/servers']!.get!.responses['200']!.content!['application/json']!.schema,
    );
    expect(page(await list.json()), JSON.stringify(page.errors)).toBe(true);
    const refused = await app.request('/api/v1/servers', { headers: bearer(`wdn_${'B'.repeat(43)}`) });
    const error = ajv.compile(doc.components.schemas.Error!);
    expect(error(await refused.json()), JSON.stringify(error.errors)).toBe(true);
  });
});
