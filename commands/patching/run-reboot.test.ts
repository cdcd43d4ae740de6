import { describe, expect, it } from 'vitest';
import { createFakeClock } from '../../lib/clock.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps } from '../../test/deps.js';
import { createProjectRow, uniqueHandle } from '../approvals/testing.js';
import { insertTestServer } from '../scanning/testing.js';
import type { PatchPolicyInput } from './policy.js';
import { resumeInterruptedRuns } from './resume.js';
import { executeRun } from './run.js';
import { createSimFleet, insertScheduledPlan, type SimFleet } from './run-testing.js';

/** Reboots: put off to the end of the window, and a run that died while a server was rebooting. */
const db = useTestDatabase('patch-reboot');

async function plan(fleet: SimFleet, count: number, policy: PatchPolicyInput, at: Date) {
  const projectId = (await createProjectRow(db.current.sql, uniqueHandle('reboot'))).id;
  const names: string[] = [];
  const servers = [];
  for (let i = 0; i < count; i++) {
    const name = uniqueHandle(`node${i + 1}`);
    names.push(name);
    fleet.add({ name, installed: { kernel: '6.1.1' }, available: { kernel: '6.1.2' } });
    servers.push({
      serverId: await insertTestServer(db.current.sql, { name, projectId }),
      ring: 0,
      packages: [{ package: 'kernel', from: '6.1.1', to: '6.1.2', rebootExpected: true }],
    });
  }
  return { names, planId: await insertScheduledPlan(db.current.sql, { projectId, policy, servers, at }) };
}

const reboots = (fleet: SimFleet, name: string) =>
  fleet.hosts.get(name)!.execs.filter((argv) => argv[0] === 'systemctl' && argv[1] === 'reboot').length;

describe('reboots', () => {
  it('puts reboots off to the end of the window when the policy says so, and reboots each server once', async () => {
    const fleet = createSimFleet();
    const deps = createTestDeps(db.current.sql, { targets: fleet });
    const { names, planId } = await plan(
      fleet,
      2,
      {
        rings: [{ name: 'all', match: 'rest', maxConcurrency: 2, errorThreshold: 0 }],
        reboot: { rule: 'if-required', when: 'end-of-window' },
      },
      deps.clock.now(),
    );
    const result = await executeRun(deps, planId, { sleep: async () => {}, rebootPollMs: 1 });
    expect(result.outcome).toBe('succeeded');
    for (const name of names) expect(reboots(fleet, name)).toBe(1);
    const rows = await db.current.sql<{ steps: { detail: string }[] }[]>`
      select steps from patch_run_servers where plan_id = ${planId}`;
    for (const row of rows) {
      const details = row.steps.map((s) => s.detail);
      // Confirmed first, rebooted after the last ring.
      expect(details.indexOf('end-of-window reboot requested')).toBeGreaterThan(
        details.findIndex((d) => d.startsWith('confirmed by rescan')),
      );
      expect(details).toContain('end-of-window reboot: back after 0 s');
    }
  });

  it('resumes a run that died while a server was rebooting without rebooting it again', async () => {
    const clock = createFakeClock();
    const fleet = createSimFleet();
    const { names, planId } = await plan(
      fleet,
      1,
      { rings: [{ name: 'all', match: 'rest' }], reboot: { rule: 'always' } },
      clock.now(),
    );
    // Process A asks for the reboot, then dies while waiting for the host to come back.
    const sqlA = db.current.connectAgain();
    const runA = executeRun(createTestDeps(sqlA, { clock, targets: fleet }), planId, {
      owner: 'a',
      sleep: () => new Promise(() => {}),
    }).catch((error: unknown) => error);
    const deadline = Date.now() + 20_000;
    while (reboots(fleet, names[0]!) === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    await sqlA.end({ timeout: 1 });
    const [stuck] = await db.current.sql<
      { state: string }[]
    >`select state from patch_run_servers where plan_id = ${planId}`;
    expect(stuck!.state).toBe('rebooting');

    clock.advance(6 * 60_000);
    const deps = createTestDeps(db.current.sql, { clock, targets: fleet.another() });
    const [resumed] = await resumeInterruptedRuns(deps, {
      owner: 'b',
      sleep: async () => {},
      rebootPollMs: 1,
    });
    expect(resumed).toMatchObject({ ran: true, outcome: 'succeeded' });
    expect(reboots(fleet, names[0]!)).toBe(1);
    expect(fleet.hosts.get(names[0]!)!.installCalls).toBe(1);
    void runA;
  });
});
