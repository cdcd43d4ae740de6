import { beforeAll, describe, expect, it } from 'vitest';
import { parseCsv } from '../../../commands/audit/report-csv.js';
import { type ReportFleet, seedReportFleet } from '../../../commands/reports/testing.js';
import { createTargetFactory } from '../../../commands/scanning/target-factory.js';
import { insertTestServer } from '../../../commands/scanning/testing.js';
import { useTestDatabase } from '../../../test/db.js';
import { createTestDeps, type TestDeps } from '../../../test/deps.js';
import { createApp } from '../../app.js';
import { bearer, tokenFor } from '../testing.js';

/** The reports and baselines over the REST API, with bearer tokens. */
const db = useTestDatabase('api-reports');

let deps: TestDeps;
let fleet: ReportFleet;
let app: ReturnType<typeof createApp>;
let auditorToken: string;
let operatorToken: string;

beforeAll(async () => {
  deps = createTestDeps(db.current.sql, { targets: createTargetFactory() });
  fleet = await seedReportFleet(db.current.sql, deps.clock.now());
  app = createApp({ deps });
  auditorToken = await tokenFor(deps, fleet.auditor.user, ['compliance:read', 'audit:read']);
  operatorToken = await tokenFor(deps, fleet.operator.user, ['compliance:read', 'scan:run']);
  await insertTestServer(db.current.sql, { name: 'beta-local', projectId: fleet.beta.id, provider: 'local' });
});

describe('GET /api/v1/reports/{kind}', () => {
  it('answers JSON rows for the reader’s projects only', async () => {
    const res = await app.request('/api/v1/reports/compliance', { headers: bearer(auditorToken) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      scope: string[];
      rows: { server: string; state: string; since: string | null }[];
    };
    expect(body.scope).toEqual(['alpha']);
    expect(body.rows.map((r) => `${r.server}:${r.state}`)).toEqual([
      'alpha-late:non-compliant',
      'alpha-new:unknown',
      'alpha-ok:compliant',
    ]);
    expect(body.rows[0]!.since).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('downloads CSV and PDF with a file name, and refuses a project outside the token’s reach', async () => {
    const csv = await app.request('/api/v1/reports/vendors?format=csv', { headers: bearer(auditorToken) });
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(csv.headers.get('content-disposition')).toBe(
      'attachment; filename="warden-vendors-alpha-2026-01-05.csv"',
    );
    expect(parseCsv(await csv.text()).map((r) => r[0])).toContain(
      `'=HYPERLINK("http://evil.example/x","click")`,
    );
    const pdf = await app.request('/api/v1/reports/compliance?format=pdf&project=alpha', {
      headers: bearer(auditorToken),
    });
    expect(pdf.headers.get('content-type')).toBe('application/pdf');
    expect(
      Buffer.from(await pdf.arrayBuffer())
        .subarray(0, 5)
        .toString(),
    ).toBe('%PDF-');
    const other = await app.request('/api/v1/reports/compliance?project=beta', {
      headers: bearer(auditorToken),
    });
    expect(other.status).toBe(403);
  });

  it('refuses the per-user report without audit:read, unknown kinds and bad periods', async () => {
    expect((await app.request('/api/v1/reports/users', { headers: bearer(operatorToken) })).status).toBe(403);
    expect((await app.request('/api/v1/reports/secrets', { headers: bearer(auditorToken) })).status).toBe(
      404,
    );
    const bad = await app.request('/api/v1/reports/trends?since=2026-02-01T00:00:00Z', {
      headers: bearer(auditorToken),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toBe(
      'since must be before until',
    );
    expect((await app.request('/api/v1/reports/compliance')).status).toBe(401);
  });
});

describe('baselines over the API', () => {
  it('lists the checks as data, runs a server’s baseline now and reads its state back', async () => {
    const list = await app.request('/api/v1/baselines', { headers: bearer(operatorToken) });
    const body = (await list.json()) as {
      items: { name: string; checks: { id: string; argv: string[] }[] }[];
    };
    expect(body.items[0]!.name).toBe('default-linux');
    expect(body.items[0]!.checks[0]!.argv.at(-1)).toBe('/etc/ssh/sshd_config');

    const run = await app.request('/api/v1/servers/beta-local/baseline/run', {
      method: 'POST',
      headers: bearer(operatorToken),
    });
    expect(run.status).toBe(200);
    const outcome = (await run.json()) as { status: string; results: { check: string }[] };
    expect(outcome.status).toBe('succeeded');
    expect(outcome.results).toHaveLength(5);

    const state = await app.request('/api/v1/servers/beta-local/baseline', {
      headers: bearer(operatorToken),
    });
    const states = (await state.json()) as { items: { check: string }[]; lastRunAt: string };
    expect(states.items.map((s) => s.check).sort()).toEqual(outcome.results.map((r) => r.check).sort());
    expect(states.lastRunAt).toBe(deps.clock.now().toISOString());

    // The alpha auditor cannot run (no scan:run) nor read beta's servers.
    const refused = await app.request('/api/v1/servers/beta-local/baseline', {
      headers: bearer(auditorToken),
    });
    expect(refused.status).toBe(403);
  });
});
