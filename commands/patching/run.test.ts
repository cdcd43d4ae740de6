import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { insertTicketLink } from '../../storage/tickets.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { decide } from '../approvals/engine.js';
import { createApprovalSubjects } from '../approvals/subjects.js';
import { createActor, createProjectRow, uniqueHandle } from '../approvals/testing.js';
import type { Actor } from '../rbac/authorize.js';
import { finding, insertTestServer } from '../scanning/testing.js';
import { getPlan } from './plans.js';
import type { PatchPolicyInput } from './policy.js';
import { patchRestoreSubject } from './rollback.js';
import { executeRun } from './run.js';
import { haltPatchRun, patchRunStatus } from './run-chat.js';
import { createSimFleet, insertScheduledPlan, type SimFleet, type SimHostOptions } from './run-testing.js';
import { patchApprovalSubjects } from './subjects.js';
import { createApprovedPlan } from './testing.js';

/**
 * Runs over a fleet of simulated Debian hosts (in-memory package databases; every install counted)
 * against the real database: rings, concurrency, the error threshold, the window's cutoff,
 * rollback, reboots, snapshots put to approval, and the plan hash.
 */
const db = useTestDatabase('patch-run');
let deps: TestDeps;
let fleet: SimFleet;
let projectId: number;
let manager: Actor;
let approver: Actor;

beforeAll(async () => {
  projectId = (await createProjectRow(db.current.sql, uniqueHandle('fleet'))).id;
  manager = await createActor(db.current.sql, uniqueHandle('pm'), [['patch-manager', projectId]]);
  approver = await createActor(db.current.sql, uniqueHandle('appr'), [['approver', projectId]]);
});

beforeEach(() => {
  fleet = createSimFleet();
  deps = createTestDeps(db.current.sql, {
    targets: fleet,
    approvalSubjects: createApprovalSubjects([...patchApprovalSubjects, patchRestoreSubject]),
  });
});

interface HostSpec extends Partial<SimHostOptions> {
  ring: number;
}

/** Servers in the inventory, simulated hosts behind them, and a scheduled plan to upgrade `app` 1.0 → 1.1. */
async function fleetPlan(
  specs: HostSpec[],
  policy: PatchPolicyInput,
  window: { cutoffAt?: Date } = {},
): Promise<{ planId: number; names: string[] }> {
  const names: string[] = [];
  const servers = [];
  for (const [index, spec] of specs.entries()) {
    const name = uniqueHandle(`web${index + 1}`);
    names.push(name);
    fleet.add({ name, installed: { app: '1.0' }, available: { app: '1.1' }, ...spec });
    const serverId = await insertTestServer(db.current.sql, { name, projectId });
    servers.push({ serverId, ring: spec.ring, packages: [{ package: 'app', from: '1.0', to: '1.1' }] });
  }
  const planId = await insertScheduledPlan(db.current.sql, {
    projectId,
    createdBy: manager.user.id,
    policy,
    servers,
    at: deps.clock.now(),
    ...(window.cutoffAt ? { cutoffAt: window.cutoffAt } : {}),
  });
  return { planId, names };
}

async function states(planId: number): Promise<Record<string, string>> {
  const rows = await db.current.sql<{ name: string; state: string }[]>`
    select s.name, r.state from patch_run_servers r join servers s on s.id = r.server_id where r.plan_id = ${planId}`;
  return Object.fromEntries(rows.map((r) => [r.name, r.state]));
}

async function events(planId: number): Promise<{ action: string; data: Record<string, unknown> }[]> {
  return db.current.sql<{ action: string; data: Record<string, unknown> }[]>`
    select action, data from audit_events where subject_type = 'patch-plan' and subject_id = ${String(planId)} order by seq`;
}

async function threadTexts(planId: number): Promise<string> {
  const rows = await db.current.sql<{ payload: { reply: { text?: string; header?: string } } }[]>`
    select payload from outbox where kind = 'thread-reply' and payload->'subject'->>'id' = ${String(planId)}
    and payload->'subject'->>'type' = 'patch-plan' order by id`;
  return rows.map((r) => `${r.payload.reply.header ?? ''} ${r.payload.reply.text ?? ''}`).join('\n');
}

const twoRings = (
  rest: { maxConcurrency?: number; errorThreshold?: number | string } = {},
): PatchPolicyInput => ({
  rings: [
    { name: 'canary', match: { count: 1 }, maxConcurrency: 1, errorThreshold: 0 },
    {
      name: 'rest',
      match: 'rest',
      maxConcurrency: rest.maxConcurrency ?? 2,
      errorThreshold: rest.errorThreshold ?? 1,
    },
  ],
  reboot: { rule: 'never' },
});

describe('a run over a simulated fleet', () => {
  it('installs the pinned versions ring by ring, confirms each server by rescan and reports before and after', async () => {
    const { planId, names } = await fleetPlan([{ ring: 0 }, { ring: 1 }, { ring: 1 }], twoRings());
    const result = await executeRun(deps, planId);
    expect(result.outcome).toBe('succeeded');
    expect(Object.values(await states(planId))).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(fleet.stats.order[0]).toBe(names[0]);
    for (const name of names) {
      expect(fleet.hosts.get(name)!.installed.get('app')).toBe('1.1');
      expect(fleet.hosts.get(name)!.installCalls).toBe(1);
    }
    expect((await getPlan(db.current.sql, planId))!.status).toBe('succeeded');
    const actions = (await events(planId)).map((e) => e.action);
    expect(actions).toEqual([
      'patch.plan.running',
      'patch.server-succeeded',
      'patch.ring-finished',
      'patch.server-succeeded',
      'patch.server-succeeded',
      'patch.ring-finished',
      'patch.run-report',
      'patch.plan.succeeded',
    ]);
    // The confirming rescan is recorded like any scan: nothing is pending any more.
    const [open] = await db.current.sql<{ n: number }[]>`
      select count(*)::int as n from findings_open f join servers s on s.id = f.server_id where s.name = any(${names})`;
    expect(open!.n).toBe(0);
    const thread = await threadTexts(planId);
    expect(thread).toContain(`Before/after report, patch plan #${planId}`);
    expect(thread).toMatch(/3 of 3 servers done, 3 succeeded/);
  });

  it('runs a plan built, placed in rings and approved by the planner, exactly as approved', async () => {
    const names = ['db-a', 'web-a', 'web-b'].map((n) => uniqueHandle(n));
    for (const name of names)
      fleet.add({
        name,
        installed: { openssl: '3.0.1', curl: '7.0' },
        available: { openssl: '3.0.2', curl: '7.1' },
      });
    const { plan, items } = await createApprovedPlan(deps, {
      servers: names.map((name) => ({
        name,
        findings: [
          finding('openssl', {
            installedVersion: '3.0.1',
            candidateVersion: '3.0.2',
            classification: 'security',
          }),
          finding('curl', { installedVersion: '7.0', candidateVersion: '7.1', classification: 'security' }),
        ],
      })),
      policy: {
        rings: [
          { name: 'canary', match: { count: 1 }, maxConcurrency: 1, errorThreshold: 0 },
          { name: 'rest', match: 'rest', maxConcurrency: 2, errorThreshold: 0 },
        ],
        reboot: { rule: 'never' },
      },
    });
    expect(plan.status).toBe('scheduled');
    expect(items).toHaveLength(6);
    const result = await executeRun(deps, plan.id);
    expect(result.outcome).toBe('succeeded');
    // The planner put the first server by name in the canary ring; it went first.
    expect(fleet.stats.order[0]).toBe(names[0]);
    for (const name of names) {
      expect(Object.fromEntries(fleet.hosts.get(name)!.installed)).toEqual({ openssl: '3.0.2', curl: '7.1' });
    }
  });

  it('never runs more servers of a ring at once than its maxConcurrency', async () => {
    // The first install of the ring waits until a second one runs beside it, whatever the machine's
    // speed; a third at once would show as 3.
    const paired = {
      install: async () => {
        const deadline = Date.now() + 10_000;
        while (fleet.stats.maxInFlight < 2 && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 2));
        return 'ok' as const;
      },
    };
    const { planId } = await fleetPlan(
      [
        { ring: 0 },
        { ring: 1, ...paired },
        { ring: 1, ...paired },
        { ring: 1, ...paired },
        { ring: 1, ...paired },
      ],
      twoRings({ maxConcurrency: 2 }),
    );
    await executeRun(deps, planId);
    expect(fleet.stats.maxInFlight).toBe(2);
    expect(Object.values(await states(planId)).every((s) => s === 'succeeded')).toBe(true);
  });

  it('halts when failures in a ring pass its error threshold, skips the rest and says why in the thread and on the ticket', async () => {
    const fail = { install: () => 'fail' as const };
    const { planId, names } = await fleetPlan(
      [
        { ring: 0 },
        { ring: 1, ...fail },
        { ring: 1 },
        { ring: 1, ...fail },
        { ring: 1 },
        { ring: 1 },
        { ring: 2 },
      ],
      {
        ...twoRings({ maxConcurrency: 1, errorThreshold: 1 }),
        rings: [
          { name: 'canary', match: { count: 1 }, maxConcurrency: 1, errorThreshold: 0 },
          { name: 'web', match: { count: 5 }, maxConcurrency: 1, errorThreshold: 1 },
          { name: 'rest', match: 'rest', maxConcurrency: 1, errorThreshold: 0 },
        ],
      },
    );
    await insertTicketLink(db.current.sql, {
      subject: { type: 'patch-plan', id: String(planId) },
      system: 'jira',
      key: 'OPS-7',
      url: 'https://jira.example/browse/OPS-7',
      at: deps.clock.now(),
    });
    const result = await executeRun(deps, planId);
    expect(result.outcome).toBe('partially-failed');
    const byName = await states(planId);
    expect(names.map((n) => byName[n])).toEqual([
      'succeeded',
      'failed',
      'succeeded',
      'failed',
      'skipped-halted',
      'skipped-halted',
      'skipped-halted',
    ]);
    for (const skipped of names.slice(4)) expect(fleet.hosts.get(skipped)!.installCalls).toBe(0);
    const halted = (await events(planId)).find((e) => e.action === 'patch.run-halted');
    expect(halted?.data.reason).toBe(
      '2 of 5 servers failed in ring web, more than its error threshold (1) allows',
    );
    expect(await threadTexts(planId)).toContain('Patching halted: 2 of 5 servers failed in ring web');
    const comments = await db.current.sql<{ kind: string; payload: { text: string; to?: string } }[]>`
      select kind, payload from outbox where channel = 'ticket' order by id`;
    expect(comments.some((c) => c.payload.text.startsWith('Patching halted: 2 of 5'))).toBe(true);
    const last = comments[comments.length - 1]!;
    expect(last).toMatchObject({ kind: 'ticket.transition', payload: { to: 'failed' } });
    expect(comments.some((c) => c.payload.text.includes('app:amd64 1.0 → 1.1'))).toBe(true);
  });

  it('starts no server once the window cutoff has passed, and lets the one in progress finish', async () => {
    const start = deps.clock.now();
    // Each install takes 20 minutes of the fake clock; the cutoff is 30 minutes in.
    const slow = {
      install: () => {
        deps.clock.advance(20 * 60_000);
        return 'ok' as const;
      },
    };
    const { planId, names } = await fleetPlan(
      [
        { ring: 0, ...slow },
        { ring: 1, ...slow },
        { ring: 1, ...slow },
        { ring: 1, ...slow },
      ],
      twoRings({ maxConcurrency: 1 }),
      { cutoffAt: new Date(start.getTime() + 30 * 60_000) },
    );
    const result = await executeRun(deps, planId);
    const byName = await states(planId);
    expect(names.map((n) => byName[n])).toEqual([
      'succeeded',
      'succeeded',
      'skipped-cutoff',
      'skipped-cutoff',
    ]);
    expect(fleet.hosts.get(names[2]!)!.installCalls).toBe(0);
    expect(result.outcome).toBe('partially-failed');
    expect(await threadTexts(planId)).toContain(
      `Not started because the window closed: ${names[2]}, ${names[3]}.`,
    );
  });

  it('rolls a server back to its recorded versions when a post-install check fails', async () => {
    const reads = {
      exec: (argv: readonly string[]) => (argv[0] === 'app-version' ? { stdout: `${host()}\n` } : undefined),
    };
    let host = () => '';
    const { planId, names } = await fleetPlan([{ ring: 0, ...reads }], {
      ...twoRings(),
      checks: [
        {
          name: 'app is the old build',
          argv: ['app-version'],
          expect: { exitCode: 0, stdoutIncludes: '1.0' },
        },
      ],
    });
    host = () => fleet.hosts.get(names[0]!)!.installed.get('app')!;
    const result = await executeRun(deps, planId);
    expect(result.outcome).toBe('rolled-back');
    expect(fleet.hosts.get(names[0]!)!.installed.get('app')).toBe('1.0');
    const rollback = fleet.hosts.get(names[0]!)!.execs.find((argv) => argv[0] === 'apt-get');
    expect(rollback).toContain('app:amd64=1.0');
    const [row] = await db.current.sql<{ state: string; error: string; previousVersions: unknown }[]>`
      select state, error, previous_versions as "previousVersions" from patch_run_servers where plan_id = ${planId}`;
    expect(row).toMatchObject({
      state: 'rolled-back',
      previousVersions: { packages: [{ package: 'app', arch: 'amd64', version: '1.0' }] },
    });
    expect(row!.error).toContain('check "app is the old build" failed');
  });

  it('reboots when the policy always reboots, and waits for the host to come back with a new boot id', async () => {
    const { planId, names } = await fleetPlan([{ ring: 0 }], { ...twoRings(), reboot: { rule: 'always' } });
    const before = fleet.hosts.get(names[0]!)!.bootId;
    const result = await executeRun(deps, planId, { sleep: async () => {}, rebootPollMs: 1 });
    expect(result.outcome).toBe('succeeded');
    expect(fleet.hosts.get(names[0]!)!.bootId).not.toBe(before);
    const [row] = await db.current.sql<{ steps: { state: string; detail: string }[] }[]>`
      select steps from patch_run_servers where plan_id = ${planId}`;
    expect(row!.steps.map((s) => `${s.state}: ${s.detail}`)).toContain('rebooting: back after 0 s');
  });

  it('puts a snapshot restore to approval where the provider cannot reinstall old versions', async () => {
    const { planId, names } = await fleetPlan([{ ring: 0, provider: 'azure', snapshots: true }], {
      ...twoRings(),
      backups: { before: 'snapshot' },
      postCommands: [['systemctl', 'restart', 'app']],
    });
    fleet.hosts.get(names[0]!)!.execs.length = 0;
    const host = fleet.hosts.get(names[0]!)!;
    // The post-command fails on this host.
    const target = host.target();
    const exec = target.exec;
    target.exec = async (argv, options) =>
      argv[0] === 'systemctl'
        ? { ...(await exec(argv, options)), exitCode: 1, stderr: 'Job failed' }
        : exec(argv, options);
    const result = await executeRun(deps, planId);
    expect(result.outcome).toBe('failed');
    expect(host.snapshots).toEqual(['snap-' + names[0] + '-warden-p' + planId + '-pre']);
    const [request] = await db.current.sql<{ id: number; subjectType: string; status: string }[]>`
      select id, subject_type as "subjectType", status from approval_requests where subject_type = 'patch-restore'
      and subject_id like ${`${planId}:%`}`;
    expect(request).toMatchObject({ subjectType: 'patch-restore', status: 'pending' });
    await decide(deps, { actor: approver, requestId: request!.id, decision: 'approve' });
    const restore = (await events(planId)).find((e) => e.action === 'patch.restore-approved');
    expect(restore?.data).toMatchObject({ server: names[0], snapshotId: host.snapshots[0] });
  });

  it('refuses to run a plan whose items changed after approval, and cancels it', async () => {
    const { planId, names } = await fleetPlan([{ ring: 0 }], twoRings());
    await db.current.sql`update patch_plan_items set to_version = '9.9' where plan_id = ${planId}`;
    await expect(executeRun(deps, planId)).rejects.toMatchObject({ code: 'conflict' });
    expect(fleet.hosts.get(names[0]!)!.installCalls).toBe(0);
    expect((await getPlan(db.current.sql, planId))!.status).toBe('cancelled');
    expect(await threadTexts(planId)).toContain('no longer matches what was approved');
  });

  it('stops starting servers when someone halts the run in chat, and shows where each server stands', async () => {
    let planId = 0;
    const haltOnFirst = {
      install: async () => {
        await haltPatchRun(deps, manager, planId, 'the app team saw errors');
        return 'ok' as const;
      },
    };
    const made = await fleetPlan([{ ring: 0, ...haltOnFirst }, { ring: 1 }, { ring: 1 }], twoRings());
    planId = made.planId;
    const result = await executeRun(deps, planId);
    expect(Object.values(await states(planId))).toEqual(['succeeded', 'skipped-halted', 'skipped-halted']);
    expect(result.outcome).toBe('partially-failed');
    const reply = await patchRunStatus(deps, approver, planId);
    expect(reply.header).toBe(
      `Patch plan #${planId} (${(await getPlan(db.current.sql, planId))!.projectSlug}): partially-failed`,
    );
    expect(reply.text).toBe('3 of 3 servers done, 1 succeeded, 2 skipped.');
    expect(reply.context?.[0]).toBe(`Halted: halted by ${manager.user.handle}: the app team saw errors`);
    await expect(haltPatchRun(deps, manager, planId)).rejects.toMatchObject({ code: 'conflict' });
    await expect(haltPatchRun(deps, approver, planId)).rejects.toMatchObject({ code: 'forbidden' });
  });
});
