import { describe, expect, it } from 'vitest';
import { createFakeClock } from '../../lib/clock.js';
import { listInterruptedRuns } from '../../storage/patch-runs.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps } from '../../test/deps.js';
import { createProjectRow, uniqueHandle } from '../approvals/testing.js';
import { insertTestServer } from '../scanning/testing.js';
import { getPlan } from './plans.js';
import { resumeInterruptedRuns } from './resume.js';
import { executeRun } from './run.js';
import { createSimFleet, type InstallBehaviour, insertScheduledPlan } from './run-testing.js';

/**
 * Crash safety: a run is abandoned mid-way (its database connection closed, its installs left
 * hanging, as when the process is killed), then a second "process" on the same database resumes
 * it. Every server must end in exactly one final state, and none may be patched twice.
 */
const db = useTestDatabase('patch-crash');

async function until(probe: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within 20 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function setUp() {
  const clock = createFakeClock();
  const fleet = createSimFleet();
  const projectId = (await createProjectRow(db.current.sql, uniqueHandle('crash'))).id;
  // web3 dies after its package manager finished; web4 dies before it changed anything.
  const first: Record<string, InstallBehaviour> = { web3: 'apply-then-hang', web4: 'hang' };
  const servers = [];
  const names: string[] = [];
  for (const [index, short] of ['web1', 'web2', 'web3', 'web4', 'web5', 'web6'].entries()) {
    const name = uniqueHandle(short);
    names.push(name);
    fleet.add({
      name,
      installed: { app: '1.0', lib: '2.0' },
      available: { app: '1.1', lib: '2.1' },
      install: (call) => (call === 1 ? (first[short] ?? 'ok') : 'ok'),
    });
    const serverId = await insertTestServer(db.current.sql, { name, projectId });
    servers.push({
      serverId,
      ring: index === 0 ? 0 : 1,
      packages: [
        { package: 'app', from: '1.0', to: '1.1' },
        { package: 'lib', from: '2.0', to: '2.1' },
      ],
    });
  }
  const planId = await insertScheduledPlan(db.current.sql, {
    projectId,
    policy: {
      rings: [
        { name: 'canary', match: { count: 1 }, maxConcurrency: 1, errorThreshold: 0 },
        { name: 'rest', match: 'rest', maxConcurrency: 2, errorThreshold: 2 },
      ],
      reboot: { rule: 'never' },
    },
    servers,
    at: clock.now(),
  });

  return { clock, fleet, names, planId };
}

describe('a run killed mid-way and resumed', () => {
  it('ends every server in exactly one final state and patches none twice', async () => {
    const { clock, fleet, names, planId } = await setUp();

    // Process A: its own connection, stopped dead once two installs hang.
    const sqlA = db.current.connectAgain();
    const depsA = createTestDeps(sqlA, { clock, targets: fleet });
    const runA = executeRun(depsA, planId, { owner: 'process-a' }).catch((error: unknown) => error);
    const host = (short: string) => fleet.hosts.get(names[Number(short.slice(3)) - 1]!)!;
    await until(
      () => fleet.stats.inFlight === 2 && host('web3').installCalls === 1 && host('web4').installCalls === 1,
      'two hanging installs',
    );
    await sqlA.end({ timeout: 1 });

    const [stuck] = await db.current.sql<{ states: string[] }[]>`
      select array_agg(state order by s.name) as states from patch_run_servers r join servers s on s.id = r.server_id
      where r.plan_id = ${planId}`;
    expect(stuck!.states).toEqual([
      'succeeded',
      'succeeded',
      'installing',
      'installing',
      'pending',
      'pending',
    ]);

    // Process B: a fresh start on the same database. While A's lease is live nothing is taken.
    const depsB = createTestDeps(db.current.sql, { clock, targets: fleet.another() });
    expect(await resumeInterruptedRuns(depsB)).toEqual([]);
    clock.advance(6 * 60_000);
    expect(await listInterruptedRuns(db.current.sql, { now: clock.now() })).toEqual([planId]);
    const [resumed] = await resumeInterruptedRuns(depsB, { owner: 'process-b' });
    expect(resumed).toMatchObject({ planId, ran: true, outcome: 'succeeded' });

    const rows = await db.current.sql<
      { name: string; state: string; attempt: number; steps: { detail: string }[] }[]
    >`
      select s.name, r.state, r.attempt, r.steps from patch_run_servers r join servers s on s.id = r.server_id
      where r.plan_id = ${planId} order by s.name`;
    expect(rows.map((r) => r.state)).toEqual(Array(6).fill('succeeded'));
    for (const name of names) {
      const h = fleet.hosts.get(name)!;
      expect({
        name,
        applied: h.appliedInstalls,
        app: h.installed.get('app'),
        lib: h.installed.get('lib'),
      }).toEqual({
        name,
        applied: 1,
        app: '1.1',
        lib: '2.1',
      });
    }
    // web3 had finished installing: checked, not installed again. web4 had not: installed once more.
    expect(names.map((n) => fleet.hosts.get(n)!.installCalls)).toEqual([1, 1, 1, 2, 1, 1]);
    expect(rows[2]!.steps.map((s) => s.detail)).toContain(
      'found installed after a restart; not installed again',
    );
    const finals = await db.current.sql<{ server: string; n: number }[]>`
      select data->>'server' as server, count(*)::int as n from audit_events
      where subject_id = ${String(planId)} and action like 'patch.server-%' group by 1`;
    expect(finals).toHaveLength(6);
    expect(finals.every((f) => f.n === 1)).toBe(true);
    expect((await getPlan(db.current.sql, planId))!.status).toBe('succeeded');

    // Let A's abandoned installs end: with its connection gone it can write nothing, and changes nothing.
    await fleet.close();
    expect(await runA).toBeInstanceOf(Error);
    expect(names.map((n) => fleet.hosts.get(n)!.installCalls)).toEqual([1, 1, 1, 2, 1, 1]);
    expect(names.map((n) => fleet.hosts.get(n)!.installed.get('app'))).toEqual(Array(6).fill('1.1'));
  });

  it('fences a stalled process that lost its lease: once another took the run over, it changes nothing', async () => {
    const { clock, fleet, names, planId } = await setUp();
    // Process A stalls (two installs hang) but keeps its connection: it is slow, not dead.
    const depsA = createTestDeps(db.current.sql, { clock, targets: fleet });
    const runA = executeRun(depsA, planId, { owner: 'stalled-a', heartbeatMs: 3_600_000 });
    await until(() => fleet.stats.inFlight === 2, 'two hanging installs');
    clock.advance(6 * 60_000);
    const depsB = createTestDeps(db.current.sql, { clock, targets: fleet.another() });
    const [resumed] = await resumeInterruptedRuns(depsB, { owner: 'process-b' });
    expect(resumed).toMatchObject({ ran: true, outcome: 'succeeded' });
    const calls = names.map((n) => fleet.hosts.get(n)!.installCalls);

    // A wakes up: every write it tries is refused, so it stops without touching another server.
    await fleet.close();
    const ended = await runA;
    expect(ended).toMatchObject({ planId, ran: true, reason: 'another process took the run over' });
    expect(names.map((n) => fleet.hosts.get(n)!.installCalls)).toEqual(calls);
    const rows = await db.current.sql<{ state: string }[]>`
      select state from patch_run_servers where plan_id = ${planId}`;
    expect(rows.map((r) => r.state)).toEqual(Array(6).fill('succeeded'));
    const finals = await db.current.sql<{ n: number }[]>`
      select count(*)::int as n from audit_events where subject_id = ${String(planId)} and action like 'patch.server-%'`;
    expect(finals[0]!.n).toBe(6);
  });
});
