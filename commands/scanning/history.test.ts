import { beforeAll, describe, expect, it } from 'vitest';
import { targetError } from '../../integrations/targets/errors.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { createActor, createProjectRow } from '../approvals/testing.js';
import type { Actor } from '../rbac/authorize.js';
import { startScan } from './scan.js';
import { createScriptedTargets, finding, insertTestServer, type ScanScript, scanResult } from './testing.js';

const db = useTestDatabase('scan-history');
let deps: TestDeps;
let operator: Actor;
let projectId: number;

const DAY = 86_400_000;

beforeAll(async () => {
  deps = createTestDeps(db.current.sql);
  projectId = (await createProjectRow(db.current.sql, 'shop')).id;
  operator = await createActor(db.current.sql, 'olga', [['operator', projectId]]);
  for (const name of ['web-1', 'web-2', 'web-3']) {
    await insertTestServer(db.current.sql, { name, projectId, address: '10.0.0.1' });
  }
});

async function scan(scope: string, script: ScanScript) {
  const targets = createScriptedTargets(script);
  const started = await startScan(deps, operator, { scope }, { run: { targets } });
  const outcome = await started.done;
  expect(outcome?.finished).toBe(true);
  return outcome!;
}

const open = (server: string) =>
  db.current.sql<
    {
      package: string;
      arch: string;
      installed: string;
      candidate: string;
      firstSeen: Date;
      lastSeen: Date;
      classification: string;
    }[]
  >`
    select f.package, f.arch, f.installed_version as installed, f.candidate_version as candidate,
           f.first_seen_at as "firstSeen", f.last_seen_at as "lastSeen", f.classification
    from findings_open f join servers s on s.id = f.server_id where s.name = ${server} order by f.package`;

const state = async (server: string) =>
  (
    await db.current.sql<
      {
        lastGood: Date | null;
        lastStatus: string;
        lastError: string | null;
        openTotal: number;
        openSecurity: number;
        openCritical: number;
        oldestSecurity: Date | null;
        failures: number;
      }[]
    >`
    select st.last_good_scan_at as "lastGood", st.last_scan_status as "lastStatus", st.last_error_kind as "lastError",
           st.open_total as "openTotal", st.open_security as "openSecurity", st.open_critical as "openCritical",
           st.oldest_open_security_first_seen_at as "oldestSecurity", st.consecutive_failures as failures
    from server_scan_state st join servers s on s.id = st.server_id where s.name = ${server}`
  )[0];

describe('scan history', () => {
  it('keeps first_seen across scans and moves packages no longer pending to history with resolved_at', async () => {
    const t0 = deps.clock.now();
    await scan('web-1', () =>
      scanResult([
        finding('openssl', { classification: 'security', severity: 'critical', cves: ['CVE-2024-0001'] }),
        finding('curl'),
      ]),
    );
    deps.clock.advance(DAY);
    const t1 = deps.clock.now();
    const second = await scan('web-1', () =>
      scanResult([
        finding('openssl', { candidateVersion: '1.2', classification: 'security', severity: 'critical' }),
        finding('zlib', { classification: 'security', severity: 'important' }),
      ]),
    );

    const rows = await open('web-1');
    expect(rows.map((r) => r.package)).toEqual(['openssl', 'zlib']);
    expect(rows[0]).toMatchObject({ candidate: '1.2', firstSeen: t0, lastSeen: t1 });
    expect(rows[1]).toMatchObject({ firstSeen: t1, lastSeen: t1 });

    const scanId = second.outcomes[0]!.scanId;
    const resolved = await db.current.sql<
      { package: string; resolvedAt: Date; scanId: number; firstSeen: Date }[]
    >`
      select package, resolved_at as "resolvedAt", resolved_scan_id as "scanId", first_seen_at as "firstSeen"
      from findings_resolved`;
    expect(resolved).toEqual([{ package: 'curl', resolvedAt: t1, scanId, firstSeen: t0 }]);

    expect(await state('web-1')).toMatchObject({
      lastGood: t1,
      lastStatus: 'succeeded',
      openTotal: 2,
      openSecurity: 2,
      openCritical: 1,
      oldestSecurity: t0,
      failures: 0,
    });
    expect(second.outcomes[0]!.counts).toMatchObject({
      total: 2,
      new: 1,
      newSecurity: 1,
      resolved: 1,
      firstScan: false,
    });
    const daily = await db.current.sql<{ day: string; scans: number; opened: number; resolved: number }[]>`
      select day::text as day, scans, opened, resolved from findings_daily order by day`;
    expect(daily).toEqual([
      { day: t0.toISOString().slice(0, 10), scans: 1, opened: 2, resolved: 0 },
      { day: t1.toISOString().slice(0, 10), scans: 1, opened: 1, resolved: 1 },
    ]);
  });

  it('treats a new installed version as a new finding with a new age', async () => {
    deps.clock.advance(DAY);
    const t2 = deps.clock.now();
    await scan('web-1', () =>
      scanResult([
        finding('openssl', {
          installedVersion: '1.2',
          candidateVersion: '1.3',
          classification: 'security',
          severity: 'critical',
        }),
        finding('zlib', { classification: 'security', severity: 'important' }),
      ]),
    );
    const rows = await open('web-1');
    expect(rows[0]).toMatchObject({ package: 'openssl', installed: '1.2', candidate: '1.3', firstSeen: t2 });
    const history = await db.current.sql<{ installed: string }[]>`
      select installed_version as installed from findings_resolved where package = 'openssl'`;
    expect(history).toEqual([{ installed: '1.0' }]);
  });

  it('keeps findings and the last good result when a scan fails, and records why', async () => {
    const before = await open('web-1');
    const good = (await state('web-1'))!.lastGood;
    deps.clock.advance(DAY);
    await scan('web-1', () =>
      targetError('ssh', 'unreachable', 'Could not reach 10.0.0.1:22 over SSH (ECONNREFUSED).'),
    );
    deps.clock.advance(DAY);
    await scan('web-1', () =>
      scanResult([], {
        problems: [
          {
            kind: 'lock_held',
            severity: 'error',
            message: 'Another process holds the dpkg lock.',
            retryable: true,
          },
        ],
      }),
    );
    expect(await open('web-1')).toEqual(before);
    expect(await state('web-1')).toMatchObject({
      lastGood: good,
      lastStatus: 'failed',
      lastError: 'package-lock',
      failures: 2,
      openTotal: 2,
    });
    const kinds = await db.current.sql<{ kind: string; message: string }[]>`
      select error_kind as kind, error_message as message from scans c join servers s on s.id = c.server_id
      where s.name = 'web-1' and c.status = 'failed' order by c.id`;
    expect(kinds).toEqual([
      { kind: 'unreachable', message: 'Could not reach 10.0.0.1:22 over SSH (ECONNREFUSED).' },
      { kind: 'package-lock', message: 'Another process holds the dpkg lock.' },
    ]);
  });

  it('goes on when hosts fail: each failure is recorded with its reason and the summary lists them', async () => {
    const outcome = await scan('shop', (server) => {
      if (server === 'web-2')
        return targetError('ssh', 'timeout', 'web-2 did not complete the SSH login within 10000 ms.');
      if (server === 'web-3')
        return targetError('ssh', 'auth-failed', "web-3 refused Warden's key for warden.");
      return scanResult([
        finding('openssl', {
          installedVersion: '1.2',
          candidateVersion: '1.3',
          classification: 'security',
          severity: 'critical',
        }),
      ]);
    });
    expect(outcome.batch).toMatchObject({ status: 'done', total: 3, done: 3, failed: 2 });
    const byServer = Object.fromEntries(outcome.outcomes.map((o) => [o.serverName, o.errorKind ?? o.status]));
    expect(byServer).toEqual({ 'web-1': 'succeeded', 'web-2': 'timeout', 'web-3': 'auth-failed' });
    const [post] = await db.current.sql<
      { payload: { reply: { fields: { label: string; value: string }[]; items: { text: string }[] } } }[]
    >`
      select payload from outbox where payload->>'kind' = 'channel-post' order by id desc limit 1`;
    const fields = Object.fromEntries(post!.payload.reply.fields.map((f) => [f.label, f.value]));
    expect(fields.Servers).toBe('1 of 3 scanned, 2 failed');
    expect(post!.payload.reply.items.map((i) => i.text)).toEqual([
      'Not scanned (their last good results are kept)',
      'web-2: timeout',
      'web-3: auth-failed',
    ]);
    const events = await db.current.sql<{ action: string }[]>`
      select action from audit_events where subject_type = 'scan-batch' and subject_id = ${String(outcome.batch.id)} order by seq`;
    expect(events.map((e) => e.action)).toEqual(['scan.requested', 'scan.finished']);
  });

  it('stores hostile package names from scan output as data, merged per package and arch', async () => {
    const hostile = [
      "'; drop table servers; --",
      '$(touch /tmp/warden-pwned)',
      'line\nbreak',
      'nul\u0000byte',
      'ünï 🚀',
    ];
    await scan('web-3', () =>
      scanResult([
        ...hostile.map((name) => finding(name)),
        finding('dup', { classification: 'other', cves: ['CVE-2024-0002', 'not-a-cve; rm -rf /'] }),
        finding('dup', { classification: 'security', severity: 'low', cves: ['CVE-2024-0003'] }),
      ]),
    );
    const rows = await db.current.sql<{ package: string; classification: string; cves: string[] }[]>`
      select f.package, f.classification, f.cves from findings_open f join servers s on s.id = f.server_id
      where s.name = 'web-3' order by f.package`;
    expect(rows.map((r) => r.package).sort()).toEqual(
      [...hostile.map((h) => h.replace('\u0000', '')), 'dup'].sort(),
    );
    expect(rows.find((r) => r.package === 'dup')).toEqual({
      package: 'dup',
      classification: 'security',
      cves: ['CVE-2024-0002', 'CVE-2024-0003'],
    });
    const [servers] = await db.current.sql<{ n: number }[]>`select count(*)::int as n from servers`;
    expect(servers!.n).toBe(3);
  });
});
