import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { parseCsv } from '../audit/report-csv.js';
import { csvCell } from './csv.js';
import { buildReport, renderReport } from './index.js';
import {
  DAY,
  HOSTILE_PACKAGE,
  type ReportFleet,
  seedAlphaRollups,
  seedReportFleet,
  UNICODE_NAME,
} from './testing.js';

/**
 * The four reports against a fleet with known answers, rendered to CSV (parsed back) and PDF
 * (read back with poppler's pdftotext).
 */
const db = useTestDatabase('reports');
const pdftotext = spawnSync('pdftotext', ['-v']).error ? null : 'pdftotext';
if (!pdftotext)
  console.warn(
    'PDF text checks skipped: pdftotext is missing (apt-get install poppler-utils; CI installs it)',
  );

let deps: TestDeps;
let fleet: ReportFleet;
let now: Date;

beforeAll(async () => {
  deps = createTestDeps(db.current.sql);
  now = deps.clock.now();
  fleet = await seedReportFleet(db.current.sql, now);
  const sql = db.current.sql;
  // Otto asked for access on beta 5 days ago; Ada approved it 30 minutes later; the grant's key was used.
  const [req] = await sql<{ id: number }[]>`
    insert into access_requests (requester_id, project_id, scope, scope_name, server_ids, login, duration_ms, ticket,
                                 reason, mode, public_key, key_fingerprint, status, created_at, decided_at)
    values (${fleet.operator.user.id}, ${fleet.beta.id}, 'server', 'beta-stale', ${[fleet.servers.betaStale]}, 'otto',
            3600000, 'OPS-1', 'debug', 'authorized-keys', 'ssh-ed25519 AAAA otto', ${`SHA256:${'o'.repeat(43)}`},
            'approved', ${new Date(now.getTime() - 5 * DAY)}, ${new Date(now.getTime() - 5 * DAY + 1_800_000)})
    returning id`;
  const [approval] = await sql<{ id: number }[]>`
    insert into approval_requests (subject_type, subject_id, project_id, requester_id, permission, title, status,
                                   expires_at, created_at, decided_at)
    values ('access-request', ${String(req!.id)}, ${fleet.beta.id}, ${fleet.operator.user.id}, 'access:approve',
            'Access', 'approved', ${now}, ${new Date(now.getTime() - 5 * DAY)}, ${new Date(now.getTime() - 5 * DAY + 1_800_000)})
    returning id`;
  await sql`
    insert into approval_decisions (request_id, approver_id, decision, decided_at)
    values (${approval!.id}, ${fleet.admin.user.id}, 'approve', ${new Date(now.getTime() - 5 * DAY + 1_800_000)})`;
  await sql`
    insert into keys (kind, owner_id, purpose, fingerprint, key_type, bits, public_key, created_at, last_used_at)
    values ('user', ${fleet.operator.user.id}, 'otto', ${`SHA256:${'o'.repeat(43)}`}, 'ssh-ed25519', 256,
            'ssh-ed25519 AAAA otto', ${new Date(now.getTime() - 10 * DAY)}, ${new Date(now.getTime() - 5 * DAY + 3_600_000)})`;
  await sql`
    insert into grants (request_id, requester_id, project_id, approval_id, login, mode, public_key, key_fingerprint,
                        ticket, starts_at, expires_at, created_at)
    values (${req!.id}, ${fleet.operator.user.id}, ${fleet.beta.id}, ${approval!.id}, 'otto', 'authorized-keys',
            'ssh-ed25519 AAAA otto', ${`SHA256:${'o'.repeat(43)}`}, 'OPS-1',
            ${new Date(now.getTime() - 5 * DAY + 1_800_000)}, ${new Date(now.getTime() - 5 * DAY + 5_400_000)},
            ${new Date(now.getTime() - 5 * DAY + 1_800_000)})`;
  await seedAlphaRollups(sql, fleet.alpha.id, now);
});

function pdfText(pdf: Buffer): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'wd-pdf-'));
  writeFileSync(path.join(dir, 'r.pdf'), pdf);
  return execFileSync('pdftotext', ['-layout', path.join(dir, 'r.pdf'), '-'], { encoding: 'utf8' });
}

describe('the compliance report', () => {
  it('lists only the servers of the projects the reader may see, with state, reasons and ages', async () => {
    const report = await buildReport(deps, fleet.auditor, { kind: 'compliance' });
    expect(report.scope).toEqual(['alpha']);
    const byServer = Object.fromEntries(report.rows.map((r) => [r.server, r]));
    expect(Object.keys(byServer).sort()).toEqual(['alpha-late', 'alpha-new', 'alpha-ok']);
    expect(byServer['alpha-ok']!.state).toBe('compliant');
    expect(byServer['alpha-late']!.state).toBe('non-compliant');
    expect(byServer['alpha-late']!.reasons).toMatch(
      /1 security update pending past the 7-day standard \(overdue 3d\)/,
    );
    expect(byServer['alpha-late']!.oldestSecurityAge).toBe('10d');
    expect(byServer['alpha-new']!.state).toBe('unknown');
    expect(byServer['alpha-new']!.lastGoodScanAge).toBe('never');
    expect(report.summary.find((s) => s.label === 'Compliant')!.value).toBe('1 (33.3%)');
  });

  it('counts a stale scan as unknown, and refuses a project the reader holds nothing on', async () => {
    const report = await buildReport(deps, fleet.admin, { kind: 'compliance', project: 'beta' });
    expect(report.rows).toEqual([expect.objectContaining({ server: 'beta-stale', state: 'unknown' })]);
    await expect(
      buildReport(deps, fleet.auditor, { kind: 'compliance', project: 'beta' }),
    ).rejects.toMatchObject({
      code: 'forbidden',
    });
  });

  it('reads back from CSV exactly, with the formula in a package name neutralised', async () => {
    const report = await buildReport(deps, fleet.admin, { kind: 'vendors' });
    const hostile = report.rows.find((r) => r.package === HOSTILE_PACKAGE);
    expect(hostile).toMatchObject({ findings: 1, security: 1, stillOpen: 1, patched: 0 });
    expect(report.rows.find((r) => r.package === 'openssl')).toMatchObject({
      patched: 1,
      critical: 1,
      meanDaysToPatch: 4,
    });
    const csv = (await renderReport(report, 'csv')).body.toString('utf8');
    expect(csv.endsWith('\r\n')).toBe(true);
    const parsed = parseCsv(csv);
    expect(parsed[0]).toEqual(report.columns.map((c) => c.label));
    expect(parsed.slice(1)).toEqual(
      report.rows.map((r) => report.columns.map((c) => csvCell(r[c.key] ?? null))),
    );
    const cell = parsed.find((row) => row[0]!.includes('HYPERLINK'))![0]!;
    expect(cell).toBe(`'${HOSTILE_PACKAGE}`);
  });

  it.skipIf(!pdftotext)('renders a PDF whose text says what the rows say', async () => {
    const report = await buildReport(deps, fleet.auditor, { kind: 'compliance' });
    const pdf = (await renderReport(report, 'pdf')).body;
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    const text = pdfText(pdf);
    expect(text).toContain('Compliance by server');
    expect(text).toContain('Scope: project alpha');
    for (const name of ['alpha-ok', 'alpha-late', 'alpha-new']) expect(text).toContain(name);
    expect(text).toMatch(/non-compliant/);
    expect(text).toMatch(/Unknown \(stale or never scanned\): 1/);
  });
});

describe('the per-user report', () => {
  it('counts access requested, granted and used, and how fast approvals came', async () => {
    const report = await buildReport(deps, fleet.admin, { kind: 'users' });
    const otto = report.rows.find((r) => r.user === 'otto')!;
    expect(otto).toMatchObject({ requested: 1, approved: 1, granted: 1, used: 1 });
    const ada = report.rows.find((r) => r.user === 'ada')!;
    expect(ada).toMatchObject({
      decisionsGiven: 1,
      approvalsGiven: 1,
      medianDecision: '30m',
      medianDecisionSeconds: 1800,
    });
  });

  it('needs audit:read: an operator is refused', async () => {
    await expect(buildReport(deps, fleet.operator, { kind: 'users' })).rejects.toMatchObject({
      code: 'forbidden',
    });
  });

  it.skipIf(!pdftotext)('keeps a display name in another script readable in the PDF', async () => {
    await db.current.sql`
      insert into approval_decisions (request_id, approver_id, decision, decided_at)
      select id, ${fleet.auditor.user.id}, 'approve', created_at + interval '2 hours' from approval_requests limit 1`;
    const report = await buildReport(deps, fleet.admin, { kind: 'users' });
    const text = pdfText((await renderReport(report, 'pdf')).body);
    // The table may wrap the name; every word comes out as written.
    for (const word of UNICODE_NAME.split(' ')) expect(text).toContain(word);
  });
});

describe('the trends report', () => {
  it('gives coverage, compliance and time to patch per day, with the PNG chart in the PDF', async () => {
    const report = await buildReport(deps, fleet.auditor, {
      kind: 'trends',
      project: 'alpha',
      since: new Date(now.getTime() - 4 * DAY),
    });
    const days = report.rows.filter((r) => r.servers !== null);
    expect(days.map((r) => [r.coveragePct, r.compliancePct, r.mttpDays])).toEqual([
      [66.7, 33.3, null],
      [66.7, 66.7, 4],
      [100, 66.7, null],
      [100, 66.7, null],
    ]);
    expect(report.rows.find((r) => r.criticalRemediated === 1)).toMatchObject({ criticalDays: 4 });
    expect(report.chart?.subarray(1, 4).toString()).toBe('PNG');
    const pdf = (await renderReport(report, 'pdf')).body;
    // Kept for a person to look at, beside the dashboard screenshot.
    mkdirSync('test-results', { recursive: true });
    writeFileSync('test-results/report-trends.pdf', pdf);
    if (pdftotext) {
      const images = execFileSync(
        'sh',
        ['-c', 'command -v pdfimages >/dev/null && pdfimages -list - || echo none'],
        {
          input: pdf,
          encoding: 'utf8',
        },
      );
      if (!images.includes('none'))
        expect(images.split('\n').filter((l) => /^\s+1\s+\d+\s+image\s/.test(l))).toHaveLength(1);
      expect(pdfText(pdf)).toContain('Mean time to patch (security): 4 days over 1 update');
    }
  });
});
