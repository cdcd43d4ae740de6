import { beforeAll, describe, expect, it } from 'vitest';
import type { Reply } from '../../bot/chat/model.js';
import { isAppError } from '../../lib/errors.js';
import { withTx } from '../../storage/db.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { commandContext, createActor, createProjectRow, parsedArgs } from '../approvals/testing.js';
import type { Actor } from '../rbac/authorize.js';
import { findingsCommand, scanStatusCommand } from './chat.js';
import { runScanBatch } from './run-scan.js';
import { createScanBatch, startScan } from './scan.js';
import { startDueScans } from './schedule.js';
import { sweepInterruptedScans } from './sweep.js';
import { createTargetFactory, type TargetProviderPlugin } from './target-factory.js';
import { createScriptedTargets, finding, insertTestServer, scanResult } from './testing.js';

const db = useTestDatabase('scan-batch');
let deps: TestDeps;
let operator: Actor;
let auditor: Actor;
let fleet: { id: number; slug: string };
const DAY = 86_400_000;

beforeAll(async () => {
  deps = createTestDeps(db.current.sql);
  fleet = await createProjectRow(db.current.sql, 'fleet', { scan: { every: '7d' } });
  const other = await createProjectRow(db.current.sql, 'other');
  await createProjectRow(db.current.sql, 'empty');
  operator = await createActor(db.current.sql, 'oscar', [['operator', fleet.id]]);
  auditor = await createActor(db.current.sql, 'audrey', [['auditor', fleet.id]]);
  for (let i = 1; i <= 10; i++) {
    await insertTestServer(db.current.sql, {
      name: `node-${String(i).padStart(2, '0')}`,
      projectId: fleet.id,
    });
  }
  await insertTestServer(db.current.sql, { name: 'elsewhere', projectId: other.id });
  await insertTestServer(db.current.sql, { name: 'cloud-1', projectId: fleet.id, provider: 'aws' });
});

async function errorOf(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isAppError(error)) throw new Error(`expected an AppError, got ${String(error)}`);
  return { code: error.code, message: error.message };
}

describe('starting a scan', () => {
  it('refuses without scan:run, hostile or unknown scopes and empty projects, changing nothing', async () => {
    const before = await db.current.sql`select count(*)::int as n from scan_batches`;
    expect((await errorOf(startScan(deps, auditor, { scope: 'fleet' }))).code).toBe('forbidden');
    expect((await errorOf(startScan(deps, operator, { scope: 'elsewhere' }))).code).toBe('forbidden');
    for (const scope of ['; rm -rf /', '$(touch /tmp/x)', 'a\nb', "web'1", '']) {
      expect((await errorOf(startScan(deps, operator, { scope }))).code).toBe('bad_request');
    }
    expect((await errorOf(startScan(deps, operator, { scope: 'nope' }))).code).toBe('not_found');
    const admin = await createActor(db.current.sql, 'ada', [['admin', null]]);
    expect((await errorOf(startScan(deps, admin, { scope: 'empty' }))).message).toMatch(/no servers to scan/);
    expect(await db.current.sql`select count(*)::int as n from scan_batches`).toEqual(before);
    // Names that reach SSH are held to the inventory's pattern by the database too.
    for (const name of ['; rm -rf /', '$(reboot)', 'a\nb', '-oProxyCommand=x']) {
      await expect(insertTestServer(db.current.sql, { name, projectId: fleet.id })).rejects.toThrow(
        /servers_name_check/,
      );
    }
  });

  it('scans `all` as only the projects where the actor holds scan:run', async () => {
    const targets = createScriptedTargets(() => scanResult([]));
    const started = await startScan(deps, operator, { scope: 'all' }, { run: { targets } });
    await started.done;
    expect(started.batch.total).toBe(11);
    expect(targets.calls.has('elsewhere')).toBe(false);
    expect(started.reply.header).toBe('Scanning 11 servers…');
  });

  it('fails a cloud server clearly when no provider plugin is configured, and uses one when it is', async () => {
    const targets = createTargetFactory();
    const started = await startScan(deps, operator, { scope: 'cloud-1' }, { run: { targets } });
    const outcome = await started.done;
    expect(outcome?.outcomes[0]).toMatchObject({ status: 'failed', errorKind: 'not-configured' });
    expect(outcome?.outcomes[0]?.errorMessage).toMatch(/no aws integration configured/);

    const scripted = createScriptedTargets(() => scanResult([finding('kernel')]));
    const withPlugin = {
      ...deps,
      targetProviders: new Map<string, TargetProviderPlugin>([
        ['aws', { target: ({ server, deps: d }) => scripted.forServer(server, d) }],
      ]),
    } satisfies TestDeps;
    const again = await startScan(withPlugin, operator, { scope: 'cloud-1' }, { run: { targets } });
    expect((await again.done)?.outcomes[0]).toMatchObject({ status: 'succeeded' });
    await targets.close();
  });
});

describe('progress and interruption', () => {
  it('edits the batch message at most once per interval while it runs', async () => {
    // One scan at a time, each taking 500 ms of (fake) time: 10 servers take 5 s.
    const targets = createScriptedTargets(
      () => {
        deps.clock.advance(500);
        return scanResult([]);
      },
      { global: 1 },
    );
    const started = await startScan(deps, operator, { scope: 'fleet' }, { run: { targets } });
    await started.done;
    const items = await db.current.sql<{ key: string; payload: { reply: Reply } }[]>`
      select idempotency_key as key, payload from outbox
      where payload->'subject'->>'id' = ${String(started.batch.id)} order by id`;
    const texts = items.map((i) => i.payload.reply.text);
    // first post, an edit at 2 s and 4 s (and 6 s, 8 s… but 11 servers end at 5.5 s), the final edit
    expect(texts).toEqual([
      '0/11 done, 0 failed',
      '4/11 done, 0 failed',
      '8/11 done, 0 failed',
      '11/11 done, 0 failed',
    ]);
    expect(items.filter((i) => i.key.includes(':progress:'))).toHaveLength(2);
  });

  it('marks a batch whose process stopped as interrupted, and leaves a live one alone', async () => {
    const [server] = await db.current.sql<{ id: number }[]>`select id from servers where name = 'node-01'`;
    const dead = await withTx(deps.sql, (tx) =>
      createScanBatch(tx, deps, {
        kind: 'server',
        value: 'node-01',
        projectId: fleet.id,
        servers: [server!],
        triggeredBy: 'chat',
        requestedBy: operator.user.id,
        requestedRef: 'user:oscar',
      }),
    );
    await db.current.sql`
      insert into scans (batch_id, server_id, project_id, started_at, triggered_by)
      values (${dead.id}, ${server!.id}, ${fleet.id}, ${deps.clock.now()}, 'chat')`;
    deps.clock.advance(5 * 60_000);
    const live = await withTx(deps.sql, (tx) =>
      createScanBatch(tx, deps, {
        kind: 'server',
        value: 'node-01',
        projectId: fleet.id,
        servers: [server!],
        triggeredBy: 'chat',
        requestedBy: operator.user.id,
        requestedRef: 'user:oscar',
      }),
    );
    expect(await sweepInterruptedScans(deps)).toEqual([dead.id]);
    const [row] = await db.current.sql<{ status: string; kind: string }[]>`
      select b.status, c.error_kind as kind from scan_batches b join scans c on c.batch_id = b.id where b.id = ${dead.id}`;
    expect(row).toEqual({ status: 'interrupted', kind: 'interrupted' });
    const [message] = await db.current.sql<{ payload: { reply: Reply } }[]>`
      select payload from outbox where payload->'subject'->>'id' = ${String(dead.id)} order by id desc limit 1`;
    expect(message!.payload.reply.header).toMatch(/was interrupted/);
    // A run that comes back after the sweep leaves the batch as it is.
    expect((await runScanBatch(deps, dead.id)).finished).toBe(false);
    expect(await sweepInterruptedScans(deps)).toEqual([]);
    expect(
      (await runScanBatch(deps, live.id, { targets: createScriptedTargets(() => scanResult([])) })).finished,
    ).toBe(true);
  });
});

describe('schedule and chat', () => {
  it('starts a project scan when its interval has passed, and not again before', async () => {
    const targets = createScriptedTargets(() =>
      scanResult([finding('openssl', { classification: 'security' })]),
    );
    deps.clock.advance(8 * DAY);
    const first = await startDueScans(deps, { targets });
    await Promise.all(first.done);
    expect(first.started.map((b) => b.scopeValue).sort()).toEqual(['fleet', 'other']);
    expect(first.started[0]).toMatchObject({ triggeredBy: 'schedule', requestedRef: 'job:scan-due' });
    expect((await startDueScans(deps, { targets })).started).toEqual([]);
    deps.clock.advance(7 * DAY);
    const again = await startDueScans(deps, { targets });
    await Promise.all(again.done);
    expect(again.started.map((b) => b.scopeValue).sort()).toEqual(['fleet', 'other']);
  });

  it('shows findings with their age, and marks a result STALE once older than the project allows', async () => {
    const ctx = commandContext(operator, deps, 'findings node-01');
    const fresh = (await findingsCommand.run(parsedArgs(['node-01']), ctx)).reply!;
    expect(fresh.header).toBe('Pending updates on node-01: 1');
    expect(fresh.items?.[0]?.text).toBe('openssl:amd64 1.0 → 1.1');
    expect(fresh.items?.[0]?.detail).toMatch(/^security · unknown · pending 7d/);
    expect(fresh.context?.[0]).toBe('last good scan just now');

    deps.clock.advance(9 * DAY);
    const stale = (await findingsCommand.run(parsedArgs(['node-01']), ctx)).reply!;
    expect(stale.header).toBe('Pending updates on node-01: 1 [STALE]');
    expect(stale.context?.[0]).toBe('STALE: last good scan 9d ago (older than 8d)');

    const status = (await scanStatusCommand.run(parsedArgs(['fleet']), ctx)).reply!;
    expect(status.header).toBe('Scan status in fleet: 11 servers, 11 stale');
    expect(status.items?.find((i) => i.text.startsWith('node-01'))?.detail).toMatch(
      /^STALE: last good scan 9d ago/,
    );
  });
});
