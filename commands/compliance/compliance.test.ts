import { mkdirSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createChatDeliverer } from '../../bot/chat/deliver.js';
import type { Reply } from '../../bot/chat/model.js';
import { createConsolePlatform } from '../../bot/console/platform.js';
import { createOutboxWorker, type OutboxWorker } from '../../jobs/outbox-worker.js';
import { silentLogger } from '../../lib/logger.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { pngSize } from './chart.js';
import { sendDueDigests } from './digest.js';
import { evaluateCompliance } from './evaluate.js';
import { ago, buildFleet, DAY, type Fleet, HOUR, NOW, scanAt } from './testing.js';

const db = useTestDatabase('compliance');
let deps: TestDeps;
let fleet: Fleet;
let worker: OutboxWorker;

interface StateRow {
  name: string;
  state: string;
  since: Date;
  codes: string[];
}

async function states(projectId: number): Promise<Record<string, StateRow>> {
  const rows = await db.current.sql<StateRow[]>`
    select s.name, c.state, c.since, c.reason_codes as codes
    from server_compliance_state c join servers s on s.id = c.server_id
    where c.project_id = ${projectId}`;
  return Object.fromEntries(rows.map((r) => [r.name, r]));
}

async function consoleMessages(channel: string): Promise<{ id: number; body: Reply }[]> {
  return db.current.sql<{ id: number; body: Reply }[]>`
    select id, body from console_messages where channel = ${channel} order by id`;
}

beforeAll(async () => {
  deps = createTestDeps(db.current.sql);
  fleet = await buildFleet(deps);
  const platform = createConsolePlatform(db.current.sql, deps.clock);
  worker = createOutboxWorker({
    sql: db.current.sql,
    clock: deps.clock,
    log: silentLogger(),
    deliverers: { console: createChatDeliverer({ sql: db.current.sql, platform, clock: deps.clock }) },
  });
});

describe('compliance of a fixture fleet with known answers', () => {
  it('counts stale and never-scanned servers as unknown, and lists every reason with the time it began', async () => {
    const summary = await evaluateCompliance(deps);
    expect(summary).toEqual({ evaluated: 12, changed: 12, alerts: 0 });
    const counts = await db.current.sql`
      select state, count(*)::int as n from server_compliance_state group by state order by state`;
    expect(counts).toEqual([
      { state: 'compliant', n: 4 },
      { state: 'non-compliant', n: 5 },
      { state: 'unknown', n: 3 },
    ]);
    const prod = await states(fleet.prodId);
    const expected: Record<string, [string, Date, string[]]> = {
      'web-01': ['compliant', new Date('2026-03-10T08:00:00Z'), []],
      'web-02': ['compliant', ago(DAY), []],
      'web-03': ['non-compliant', ago(3 * DAY), ['security-overdue']],
      'web-04': ['compliant', ago(DAY), []],
      'db-01': ['non-compliant', ago(10 * DAY), ['update-overdue']],
      'db-02': ['unknown', ago(4 * DAY), ['scan-stale']],
      'db-03': ['unknown', ago(60 * DAY), ['never-scanned']],
      'cache-01': ['non-compliant', ago(10 * DAY), ['key-rotation-overdue']],
      'cache-02': ['non-compliant', ago(3 * HOUR), ['unknown-keys']],
      'cache-03': ['non-compliant', ago(30 * HOUR), ['scan-stale', 'unknown-keys']],
    };
    for (const [name, [state, since, codes]] of Object.entries(expected)) {
      expect(prod[name]).toEqual({ name, state, since, codes });
    }
    const staging = await states(fleet.stagingId);
    expect(staging['stg-01']?.state).toBe('unknown');
    expect(staging['stg-02']?.state).toBe('compliant');
    // A first evaluation has no "before": nothing is alerted.
    expect(await db.current.sql`select 1 from compliance_alerts`).toHaveLength(0);
  });

  it('writes nothing and keeps every since when nothing changed', async () => {
    const before = await states(fleet.prodId);
    deps.clock.set(new Date(NOW.getTime() + 10 * 60_000));
    const summary = await evaluateCompliance(deps);
    expect(summary).toEqual({ evaluated: 0, changed: 0, alerts: 0 });
    expect(await states(fleet.prodId)).toEqual(before);
    deps.clock.set(NOW);
  });
});

describe('the daily digest', () => {
  it('posts the digest with its chart to the console, with numbers that match the fleet, once a day', async () => {
    const result = await sendDueDigests(deps);
    expect(result.sent.sort()).toEqual(['prod', 'staging']);
    expect(result.failed).toEqual([]);
    await worker.drainOnce();

    const [digest, chart, ...rest] = await consoleMessages('prod');
    expect(rest).toEqual([]);
    const r = digest!.body;
    expect(r.header).toBe('Compliance digest: Production (2026-03-10)');
    expect(r.text).toBe(
      '30% compliant: 3 of 10 servers (+10 pts since yesterday). 5 non-compliant, 2 unknown (stale or never scanned), 6 security updates pending.',
    );
    expect(r.fields).toEqual([
      { label: 'Compliant', value: '3 / 10 (+1)' },
      { label: 'Non-compliant', value: '5 (±0)' },
      { label: 'Unknown', value: '2 (−1)' },
      { label: 'Pending security updates', value: '6 (−14)' },
      // today 2 updates × 3 days, yesterday 4 × 2 days: 14 / 6
      { label: 'Mean time to patch (30 days)', value: '2.3 days' },
    ]);
    const lines = (r.items ?? []).map((i) => i.text);
    expect(lines).toEqual([
      'Crossed a threshold: cache-02 is now non-compliant (for 3h)',
      'Top offender: web-03 (2 security updates pending, oldest 10d)',
      'Top offender: cache-01',
      'Top offender: cache-02',
      'Top offender: cache-03',
      'Top offender: db-01',
      'Approval waiting: Patch plan #7 for prod',
      'Grant #1 expires in 3h: @alice as deploy',
      expect.stringMatching(/^Key SHA256:.{12}… \(@owner\) rotation overdue by 10d$/),
      expect.stringMatching(/^Key SHA256:.{12}… \(@alice\) due for rotation in 5d$/),
    ]);
    expect(r.items?.[1]?.detail).toBe(
      '2 security updates pending past the 7-day standard (overdue 3d) · owner @owner',
    );
    expect(r.image).toBeUndefined();

    // The console platform got the chart as its own message, a PNG of the chart's size.
    const image = chart!.body.image!;
    expect(image.title).toBe('Production: compliance, last 30 days');
    expect(image.alt).toMatch(/^Compliance of Production over 30 days: from 10% to 30%/);
    const png = Buffer.from(image.png, 'base64');
    expect(pngSize(png)).toEqual({ width: 900, height: 420 });
    mkdirSync('test-results', { recursive: true });
    writeFileSync('test-results/digest-chart.png', png);

    // Today's rollup was written at digest time.
    const [today] = await db.current.sql`
      select servers, compliant, non_compliant, unknown, pending_security, security_resolved, mttp_seconds
      from compliance_daily where project_id = ${fleet.prodId} and day = '2026-03-10'`;
    expect(today).toEqual({
      servers: 10,
      compliant: 3,
      non_compliant: 5,
      unknown: 2,
      pending_security: 6,
      security_resolved: 2,
      mttp_seconds: 3 * 86_400,
    });

    // Staging has no console channel of its own: its slug is the channel.
    const [staging] = await consoleMessages('staging');
    expect(staging?.body.text).toMatch(
      /^50% compliant: 1 of 2 servers \(no figure for yesterday yet\)\. 0 non-compliant, 1 unknown/,
    );

    // The job runs every five minutes: nothing goes out twice.
    deps.clock.set(new Date(NOW.getTime() + 5 * 60_000));
    expect(await sendDueDigests(deps)).toEqual({ sent: [], failed: [] });
    await worker.drainOnce();
    expect(await consoleMessages('prod')).toHaveLength(2);
    const events = await db.current
      .sql`select data from audit_events where action = 'compliance.digest.sent'`;
    expect(events).toHaveLength(2);
  });

  it("waits for each project's local digest time on the next day", async () => {
    deps.clock.set('2026-03-11T07:30:00Z'); // 08:30 in Paris, 07:30 UTC
    expect(await sendDueDigests(deps)).toEqual({ sent: [], failed: [] });
    deps.clock.set('2026-03-11T08:05:00Z'); // 09:05 in Paris: prod is due; staging (09:00 UTC) is not
    expect(await sendDueDigests(deps)).toEqual({ sent: ['prod'], failed: [] });
    await worker.drainOnce();
    const prod = await consoleMessages('prod');
    expect(prod.map((m) => m.body.header ?? m.body.image?.title)).toEqual([
      'Compliance digest: Production (2026-03-10)',
      'Production: compliance, last 30 days',
      'Compliance digest: Production (2026-03-11)',
      'Production: compliance, last 30 days',
    ]);
    // Yesterday is now the rollup written by the first digest: no change since.
    expect(prod[2]!.body.text).toMatch(/^30% compliant: 3 of 10 servers \(±0 pts since yesterday\)/);
  });
});

describe('change-only alerts', () => {
  async function alertKeys(): Promise<string[]> {
    const rows = await db.current.sql<
      { key: string }[]
    >`select alert_key as key from compliance_alerts order by id`;
    return rows.map((r) => r.key.replace(/:\d+:/, ':#:'));
  }

  it('fires once when security updates go from 0 to N on a server, not on the next evaluation', async () => {
    await scanAt(deps, fleet.servers['web-01']!, new Date('2026-03-11T09:00:00Z'), [
      {
        package: 'nginx',
        installedVersion: '1',
        candidateVersion: '2',
        classification: 'security',
        severity: 'important',
        cves: [],
        arch: 'amd64',
      },
      {
        package: 'libxml2',
        installedVersion: '1',
        candidateVersion: '2',
        classification: 'security',
        severity: 'important',
        cves: [],
        arch: 'amd64',
      },
    ]);
    expect((await evaluateCompliance(deps)).alerts).toBe(1);
    expect((await evaluateCompliance(deps)).alerts).toBe(0);
    expect(await alertKeys()).toEqual([expect.stringMatching(/^security-new:#:\d+$/)]);
    await worker.drainOnce();
    const [alert] = (await consoleMessages('prod')).slice(-1);
    expect(alert!.body).toMatchObject({
      header: 'Compliance alert',
      items: [{ text: 'web-01: security updates went from 0 to 2' }],
    });
  });

  it('fires once for each threshold crossed as time passes', async () => {
    deps.clock.set('2026-03-15T11:00:00Z');
    expect((await evaluateCompliance(deps)).alerts).toBe(3);
    deps.clock.set('2026-03-15T11:05:00Z');
    expect((await evaluateCompliance(deps)).alerts).toBe(0);
    const keys = (await alertKeys()).slice(1).sort();
    expect(keys).toEqual([
      'threshold:#:key-rotation-overdue:2026-03-15T10:00:00.000Z',
      'threshold:#:security-overdue:2026-03-11T10:00:00.000Z',
      'threshold:#:security-overdue:2026-03-15T10:00:00.000Z',
    ]);
    await worker.drainOnce();
    const [alert] = (await consoleMessages('prod')).slice(-1);
    expect(alert!.body.header).toBe('Compliance alerts: 3 changes');
    expect((alert!.body.items ?? []).map((i) => i.text).sort()).toEqual([
      'web-01 crossed a threshold: a key is past its rotation date',
      'web-02 crossed a threshold: security updates pending past the standard',
      'web-04 crossed a threshold: security updates pending past the standard',
    ]);
  });
});
