import { beforeAll, describe, expect, it } from 'vitest';
import { getApprovalRequest } from '../../storage/approvals.js';
import { withTx } from '../../storage/db.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { decide } from '../approvals/engine.js';
import { createScriptedTargets, finding, scanResult } from '../scanning/testing.js';
import { buildPlan } from './build.js';
import { planHash } from './hash.js';
import { getPlan, getPlanItems, setPlanStatus, verifyPlanHash } from './plans.js';
import { parsePatchPolicy } from './policy.js';
import { updatePatchPolicy } from './policy-store.js';
import { createTestFleet, patchApprovalSubjectMap, scanTestServers, type TestFleet } from './testing.js';

const db = useTestDatabase('patch-plans');
const DAY = 86_400_000;
let deps: TestDeps;

const openssl = (to = '3.0.13') =>
  finding('openssl', {
    installedVersion: '3.0.11-1',
    candidateVersion: `${to}-1`,
    classification: 'security',
    severity: 'critical',
    cves: ['CVE-2024-0727'],
  });
const zlib = finding('zlib1g', {
  installedVersion: '1:1.2.13-1',
  candidateVersion: '1:1.2.13-2',
  classification: 'security',
  severity: 'low',
});
const curl = finding('curl', {
  installedVersion: '7.88.1-10',
  candidateVersion: '7.88.1-11',
  classification: 'security',
  severity: 'important',
  rebootRequired: true,
});
const SATURDAYS = {
  windows: [{ cron: '0 2 * * 6', timezone: 'UTC', durationMinutes: 120, cutoffMinutes: 15 }],
};

beforeAll(() => {
  deps = createTestDeps(db.current.sql, { approvalSubjects: patchApprovalSubjectMap() });
});

async function approve(fleet: TestFleet, requestId: number | null) {
  return decide(deps, { actor: fleet.approver, requestId: requestId!, decision: 'approve' });
}

describe('building a plan', () => {
  it('rescans stale servers first, plans on the fresh results only, and leaves out a server whose rescan failed', async () => {
    deps.clock.set('2026-01-05T09:00:00Z');
    const fleet = await createTestFleet(deps, {
      servers: [
        { name: 'stale-1', findings: [openssl('3.0.12')] },
        { name: 'stale-2', findings: [zlib] },
      ],
      policy: SATURDAYS,
    });
    deps.clock.advance(9 * DAY); // past the default 8-day staleness
    const targets = createScriptedTargets((name) =>
      name === 'stale-1'
        ? scanResult([openssl('3.0.13'), curl])
        : new Error('Could not reach 10.0.0.2:22 (ECONNREFUSED).'),
    );
    const built = await buildPlan(deps, fleet.planner, { project: fleet.project.slug }, { run: { targets } });
    expect(targets.calls.get('stale-1')).toBe(1);
    expect(targets.calls.get('stale-2')).toBe(1);
    if (built.outcome !== 'created') throw new Error(built.outcome);
    expect(built.rescanned).toBe(2);
    expect(built.items.map((i) => `${i.serverName} ${i.package} ${i.toVersion}`)).toEqual([
      'stale-1 curl 7.88.1-11',
      'stale-1 openssl 3.0.13-1',
    ]);
    expect(built.plan.notes.notPlanned).toEqual([
      { server: 'stale-2', reason: expect.stringContaining('scan failed') },
    ]);
    expect(built.plan.status).toBe('awaiting-approval');
    expect(built.plan.notes.tentativeWindow?.start).toBe('2026-01-17T02:00:00.000Z');
    const request = await getApprovalRequest(deps.sql, built.plan.approvalRequestId!);
    expect(request).toMatchObject({
      subjectType: 'patch-plan',
      permission: 'patch:approve',
      status: 'pending',
    });
    const labels = request!.details.fields.map((f) => f.label);
    expect(labels).toEqual(
      expect.arrayContaining([
        'Servers',
        'Packages',
        'CVEs fixed',
        'Severities',
        'Reboots expected',
        'Window',
        'Ring order',
      ]),
    );
    expect(request!.details.fields.find((f) => f.label === 'CVEs fixed')!.value).toBe('CVE-2024-0727');
  });

  it('places servers in rings by tag, count and rest, and refuses a scheduled plan when no window is ahead', async () => {
    deps.clock.set('2026-01-05T09:00:00Z');
    const fleet = await createTestFleet(deps, {
      servers: ['a-1', 'b-1', 'c-1', 'd-1'].map((name) => ({
        name,
        findings: [zlib],
        ...(name === 'd-1' ? { tags: { stage: 'canary' } } : {}),
      })),
      policy: {
        ...SATURDAYS,
        rings: [
          { name: 'canary', match: { tag: { stage: 'canary' } } },
          { name: 'two', match: { count: 2 }, maxConcurrency: 2 },
          { name: 'rest', match: 'rest', errorThreshold: '50%' },
        ],
      },
    });
    const built = await buildPlan(deps, fleet.planner, { project: fleet.project.slug });
    if (built.outcome !== 'created') throw new Error(built.outcome);
    expect(built.items.map((i) => [i.serverName, i.ring, i.position])).toEqual([
      ['d-1', 0, 0],
      ['a-1', 1, 0],
      ['b-1', 1, 1],
      ['c-1', 2, 0],
    ]);
    const noWindow = await createTestFleet(deps, { servers: [{ name: 'nw-1', findings: [zlib] }] });
    await expect(buildPlan(deps, noWindow.planner, { project: noWindow.project.slug })).rejects.toThrow(
      /no maintenance window ahead/,
    );
    await expect(
      buildPlan(deps, noWindow.approver, { project: noWindow.project.slug, kind: 'now' }),
    ).rejects.toThrow(/patch:plan/);
  });
});

describe('the plan hash and re-approval', () => {
  it('pins the plan: building the same plan again changes nothing, and the stored hash matches the items', async () => {
    deps.clock.set('2026-01-05T09:00:00Z');
    const fleet = await createTestFleet(deps, {
      servers: [{ name: 'pin-1', findings: [openssl(), zlib] }],
      policy: SATURDAYS,
    });
    const first = await buildPlan(deps, fleet.planner, { project: fleet.project.slug });
    const again = await buildPlan(deps, fleet.planner, { project: fleet.project.slug });
    if (first.outcome !== 'created' || again.outcome !== 'unchanged')
      throw new Error(`${first.outcome} ${again.outcome}`);
    expect(again.plan.id).toBe(first.plan.id);
    expect(await verifyPlanHash(deps.sql, first.plan.id)).toEqual({
      ok: true,
      stored: first.plan.hash,
      actual: first.plan.hash,
    });
    expect(planHash(first.plan, [...first.items].reverse())).toBe(first.plan.hash);
    expect(
      planHash(
        { ...first.plan, policySnapshot: parsePatchPolicy({ ...SATURDAYS, reboot: { rule: 'never' } }) },
        first.items,
      ),
    ).not.toBe(first.plan.hash);
  });

  it('supersedes the plan when a new finding arrives after approval, and the new plan needs approval again', async () => {
    deps.clock.set('2026-01-05T09:00:00Z');
    const fleet = await createTestFleet(deps, {
      servers: [{ name: 'new-1', findings: [openssl()] }],
      policy: SATURDAYS,
    });
    const first = await buildPlan(deps, fleet.planner, { project: fleet.project.slug });
    if (first.outcome !== 'created') throw new Error(first.outcome);
    await approve(fleet, first.plan.approvalRequestId);
    expect((await getPlan(deps.sql, first.plan.id))!.status).toBe('scheduled');
    await scanTestServers(deps, fleet.project, [
      { name: 'new-1', id: fleet.servers.get('new-1')!, findings: [openssl(), curl] },
    ]);
    const second = await buildPlan(deps, fleet.planner, { project: fleet.project.slug });
    if (second.outcome !== 'created') throw new Error(second.outcome);
    expect(second.plan.hash).not.toBe(first.plan.hash);
    expect(second.superseded).toBe(first.plan.id);
    const old = (await getPlan(deps.sql, first.plan.id))!;
    expect(old).toMatchObject({ status: 'superseded', supersededBy: second.plan.id });
    expect(second.plan.status).toBe('awaiting-approval');
    expect((await getApprovalRequest(deps.sql, second.plan.approvalRequestId!))!.status).toBe('pending');
  });

  it('withdraws the pending approval of a superseded plan, so nobody approves what will never run', async () => {
    deps.clock.set('2026-01-05T09:00:00Z');
    const fleet = await createTestFleet(deps, {
      servers: [{ name: 'wd-1', findings: [openssl('3.0.12')] }],
      policy: SATURDAYS,
    });
    const first = await buildPlan(deps, fleet.planner, { project: fleet.project.slug });
    if (first.outcome !== 'created') throw new Error(first.outcome);
    await scanTestServers(deps, fleet.project, [
      { name: 'wd-1', id: fleet.servers.get('wd-1')!, findings: [openssl('3.0.13')] },
    ]);
    const second = await buildPlan(deps, fleet.planner, { project: fleet.project.slug });
    if (second.outcome !== 'created') throw new Error(second.outcome);
    expect((await getApprovalRequest(deps.sql, first.plan.approvalRequestId!))!.status).toBe('cancelled');
    await expect(approve(fleet, first.plan.approvalRequestId)).rejects.toThrow(/already/);
    expect(second.items[0]!.toVersion).toBe('3.0.13-1');
  });

  it('supersedes an approved plan when the policy changes what its run would do', async () => {
    deps.clock.set('2026-01-05T09:00:00Z');
    const fleet = await createTestFleet(deps, {
      servers: [{ name: 'pol-1', findings: [openssl()] }],
      policy: SATURDAYS,
    });
    const first = await buildPlan(deps, fleet.planner, { project: fleet.project.slug });
    if (first.outcome !== 'created') throw new Error(first.outcome);
    await approve(fleet, first.plan.approvalRequestId);
    const heads = await updatePatchPolicy(deps, fleet.planner, {
      project: fleet.project.slug,
      policy: { ...SATURDAYS, headsUpMinutes: 15 },
    });
    expect(heads.superseded).toEqual([]); // a heads-up lead time changes no install
    const reboot = await updatePatchPolicy(deps, fleet.planner, {
      project: fleet.project.slug,
      policy: { ...SATURDAYS, reboot: { rule: 'always' } },
    });
    expect(reboot.superseded).toEqual([first.plan.id]);
    expect((await getPlan(deps.sql, first.plan.id))!.status).toBe('superseded');
    const second = await buildPlan(deps, fleet.planner, { project: fleet.project.slug });
    if (second.outcome !== 'created') throw new Error(second.outcome);
    expect(second.plan.hash).not.toBe(first.plan.hash);
    expect(second.plan.status).toBe('awaiting-approval');
  });

  it('refuses to start a plan whose stored items were changed after approval', async () => {
    deps.clock.set('2026-01-05T09:00:00Z');
    const fleet = await createTestFleet(deps, {
      servers: [{ name: 'tamper-1', findings: [openssl()] }],
      policy: SATURDAYS,
    });
    const built = await buildPlan(deps, fleet.planner, { project: fleet.project.slug });
    if (built.outcome !== 'created') throw new Error(built.outcome);
    await approve(fleet, built.plan.approvalRequestId);
    await deps.sql`update patch_plan_items set to_version = '3.0.99-1' where plan_id = ${built.plan.id}`;
    expect((await verifyPlanHash(deps.sql, built.plan.id)).ok).toBe(false);
    await expect(
      withTx(deps.sql, (tx) => setPlanStatus(tx, deps, built.plan.id, 'running', 'job:patch-run')),
    ).rejects.toThrow(/no longer matches what was approved/);
    expect((await getPlan(deps.sql, built.plan.id))!.status).toBe('scheduled');
    await deps.sql`update patch_plan_items set to_version = '3.0.13-1' where plan_id = ${built.plan.id}`;
    const running = await withTx(deps.sql, (tx) =>
      setPlanStatus(tx, deps, built.plan.id, 'running', 'job:patch-run'),
    );
    expect(running.status).toBe('running');
    // A resumed run saying running again changes nothing; a plan that ran cannot be scheduled again.
    await withTx(deps.sql, (tx) => setPlanStatus(tx, deps, built.plan.id, 'running', 'job:patch-run'));
    await expect(
      withTx(deps.sql, (tx) => setPlanStatus(tx, deps, built.plan.id, 'cancelled', 'user:x')),
    ).rejects.toThrow(/cannot become cancelled/);
    const done = await withTx(deps.sql, (tx) =>
      setPlanStatus(tx, deps, built.plan.id, 'succeeded', 'job:patch-run', {
        text: 'Report: 1 of 1 patched',
      }),
    );
    expect(done.status).toBe('succeeded');
    const [event] = await deps.sql<{ data: { text?: string; to: string } }[]>`
      select data from audit_events where action = 'patch.plan.succeeded' and subject_id = ${String(built.plan.id)}`;
    expect(event!.data.to).toBe('succeeded');
    expect((await getPlanItems(deps.sql, built.plan.id)).length).toBe(1);
  });
});
