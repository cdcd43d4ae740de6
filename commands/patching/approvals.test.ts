import { beforeAll, describe, expect, it } from 'vitest';
import { getApprovalRequest, listApprovalDecisions } from '../../storage/approvals.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { decide } from '../approvals/engine.js';
import { createActor, uniqueHandle } from '../approvals/testing.js';
import { finding } from '../scanning/testing.js';
import { AUTO_APPROVE_ACTOR, autoApprovePlans } from './auto-approve.js';
import { buildPlan } from './build.js';
import { getPlan } from './plans.js';
import { updatePatchPolicy } from './policy-store.js';
import { createTestFleet, patchApprovalSubjectMap, scanTestServers, type TestFleet } from './testing.js';

const db = useTestDatabase('patch-approvals');
const DAY = 86_400_000;
let deps: TestDeps;

const kernel = finding('linux-image-amd64', {
  installedVersion: '6.1.76-1',
  candidateVersion: '6.1.85-1',
  classification: 'security',
  severity: 'important',
  rebootRequired: true,
});
const openssl = finding('openssl', {
  installedVersion: '3.0.11-1',
  candidateVersion: '3.0.13-1',
  classification: 'security',
  severity: 'critical',
});
const curl = finding('curl', {
  installedVersion: '7.88.1-10',
  candidateVersion: '7.88.1-11',
  classification: 'security',
  severity: 'moderate',
});
const SATURDAYS = [{ cron: '0 2 * * 6', timezone: 'UTC', durationMinutes: 120 }];

beforeAll(() => {
  deps = createTestDeps(db.current.sql, { approvalSubjects: patchApprovalSubjectMap() });
});

async function excludedPlan(policy: Record<string, unknown> = {}) {
  deps.clock.set('2026-01-05T09:00:00Z');
  const fleet = await createTestFleet(deps, {
    servers: [{ name: uniqueHandle('ex'), findings: [kernel, openssl] }],
    policy: { windows: SATURDAYS, exclusions: ['linux-image-*'], ...policy },
  });
  const built = await buildPlan(deps, fleet.planner, { project: fleet.project.slug });
  if (built.outcome !== 'created') throw new Error(built.outcome);
  return { fleet, plan: built.plan, items: built.items };
}

const status = async (id: number) => (await getPlan(deps.sql, id))!.status;
const approve = (actor: TestFleet['approver'], requestId: number | null) =>
  decide(deps, { actor, requestId: requestId!, decision: 'approve' });

describe('the secondary approval of excluded packages', () => {
  it('marks excluded packages and holds the plan until both approvals are in, the second from the second group', async () => {
    const { fleet, plan, items } = await excludedPlan();
    expect(items.map((i) => [i.package, i.excluded])).toEqual([
      ['linux-image-amd64', true],
      ['openssl', false],
    ]);
    const exclusion = await getApprovalRequest(deps.sql, plan.exclusionRequestId!);
    expect(exclusion).toMatchObject({
      subjectType: 'patch-exclusion',
      permission: 'patch:approve-exclusion',
      status: 'pending',
    });
    await approve(fleet.approver, plan.approvalRequestId);
    expect(await status(plan.id)).toBe('approved');
    // An approver of plans is not in the exclusion group.
    await expect(approve(fleet.approver, plan.exclusionRequestId)).rejects.toThrow(/patch:approve-exclusion/);
    expect(await status(plan.id)).toBe('approved');
    await approve(fleet.exclusionApprover, plan.exclusionRequestId);
    expect(await status(plan.id)).toBe('scheduled');
  });

  it('schedules once the plan approval follows an exclusion approval given first', async () => {
    const { fleet, plan } = await excludedPlan();
    await approve(fleet.exclusionApprover, plan.exclusionRequestId);
    const waiting = (await getPlan(deps.sql, plan.id))!;
    expect(waiting.status).toBe('awaiting-approval');
    expect(waiting.exclusionApprovedAt).not.toBeNull();
    await approve(fleet.approver, plan.approvalRequestId);
    expect(await status(plan.id)).toBe('scheduled');
  });

  it('refuses the same person for both approvals when the policy wants two people, recording nothing', async () => {
    const { fleet, plan } = await excludedPlan();
    const both = fleet.exclusionApprover; // an admin holds patch:approve and patch:approve-exclusion
    await approve(both, plan.approvalRequestId);
    await expect(approve(both, plan.exclusionRequestId)).rejects.toThrow(/wants a different person/);
    expect(await listApprovalDecisions(deps.sql, plan.exclusionRequestId!)).toEqual([]);
    expect((await getApprovalRequest(deps.sql, plan.exclusionRequestId!))!.status).toBe('pending');
    const other = await createActor(deps.sql, uniqueHandle('admin2'), [['admin', fleet.project.id]]);
    await approve(other, plan.exclusionRequestId);
    expect(await status(plan.id)).toBe('scheduled');
  });

  it('lets one person give both approvals when the policy allows it', async () => {
    const { fleet, plan } = await excludedPlan({ separateExclusionApprover: false });
    await approve(fleet.exclusionApprover, plan.approvalRequestId);
    await approve(fleet.exclusionApprover, plan.exclusionRequestId);
    expect(await status(plan.id)).toBe('scheduled');
  });

  it('cancels the plan when its exclusions are denied, and --skip-excluded builds one without them', async () => {
    const { fleet, plan } = await excludedPlan();
    await decide(deps, {
      actor: fleet.exclusionApprover,
      requestId: plan.exclusionRequestId!,
      decision: 'deny',
      comment: 'not this kernel',
    });
    expect(await status(plan.id)).toBe('cancelled');
    expect((await getApprovalRequest(deps.sql, plan.approvalRequestId!))!.status).toBe('cancelled');
    const rebuilt = await buildPlan(deps, fleet.planner, { project: fleet.project.slug, skipExcluded: true });
    if (rebuilt.outcome !== 'created') throw new Error(rebuilt.outcome);
    expect(rebuilt.items.map((i) => i.package)).toEqual(['openssl']);
    expect(rebuilt.plan.exclusionRequestId).toBeNull();
    expect(rebuilt.plan.notes.heldBack).toEqual([
      { server: expect.any(String), package: 'linux-image-amd64' },
    ]);
  });

  it('lets only the exclusion group change the exclusion list', async () => {
    const { fleet } = await excludedPlan();
    const policy = { windows: SATURDAYS, exclusions: [] };
    await expect(
      updatePatchPolicy(deps, fleet.planner, { project: fleet.project.slug, policy }),
    ).rejects.toThrow(/patch:approve-exclusion/);
    const done = await updatePatchPolicy(deps, fleet.exclusionApprover, {
      project: fleet.project.slug,
      policy,
    });
    expect(done.policy.exclusions).toEqual([]);
  });
});

describe('auto-approval after N days', () => {
  async function autoFleet(extra: Record<string, unknown> = {}) {
    deps.clock.set('2026-01-05T09:00:00Z');
    return createTestFleet(deps, {
      servers: [{ name: uniqueHandle('auto'), findings: [openssl] }],
      policy: { windows: SATURDAYS, autoApproveAfterDays: 3, ...extra },
    });
  }

  it('approves as policy:auto-approve once every package was first seen N days ago: not before, exactly once', async () => {
    const fleet = await autoFleet();
    const built = await buildPlan(deps, fleet.planner, { project: fleet.project.slug });
    if (built.outcome !== 'created') throw new Error(built.outcome);
    const request = (await getApprovalRequest(deps.sql, built.plan.approvalRequestId!))!;
    expect(request.expiresAt.getTime()).toBeGreaterThan(new Date('2026-01-08T09:00:00Z').getTime());
    deps.clock.set('2026-01-08T08:59:00Z');
    expect(await autoApprovePlans(deps)).not.toContain(built.plan.id);
    expect(await status(built.plan.id)).toBe('awaiting-approval');
    deps.clock.set('2026-01-08T09:00:00Z');
    expect(await autoApprovePlans(deps)).toContain(built.plan.id);
    expect(await status(built.plan.id)).toBe('scheduled');
    deps.clock.advance(DAY);
    expect(await autoApprovePlans(deps)).not.toContain(built.plan.id);
    const events = await deps.sql<{ actor: string; action: string }[]>`
      select actor, action from audit_events
      where (subject_type = 'approval' and subject_id = ${String(request.id)} and action = 'approval.approved')
         or (subject_type = 'patch-plan' and subject_id = ${String(built.plan.id)} and action = 'patch.plan.approved')
      order by seq`;
    expect(events).toEqual([
      { actor: AUTO_APPROVE_ACTOR, action: 'approval.approved' },
      { actor: AUTO_APPROVE_ACTOR, action: 'patch.plan.approved' },
    ]);
  });

  it('waits for the newest package of the plan: one seen later holds the whole plan back', async () => {
    const fleet = await autoFleet();
    const name = [...fleet.servers.keys()][0]!;
    deps.clock.set('2026-01-07T09:00:00Z');
    await scanTestServers(deps, fleet.project, [
      { name, id: fleet.servers.get(name)!, findings: [openssl, curl] },
    ]);
    const built = await buildPlan(deps, fleet.planner, { project: fleet.project.slug });
    if (built.outcome !== 'created') throw new Error(built.outcome);
    deps.clock.set('2026-01-08T09:00:00Z'); // openssl is 3 days old, curl only 1
    expect(await autoApprovePlans(deps)).not.toContain(built.plan.id);
    deps.clock.set('2026-01-10T09:00:00Z');
    expect(await autoApprovePlans(deps)).toContain(built.plan.id);
  });

  it('never auto-approves a plan with excluded packages', async () => {
    deps.clock.set('2026-01-05T09:00:00Z');
    const fleet = await createTestFleet(deps, {
      servers: [{ name: uniqueHandle('autox'), findings: [kernel, openssl] }],
      policy: { windows: SATURDAYS, autoApproveAfterDays: 1, exclusions: ['linux-image-*'] },
    });
    const built = await buildPlan(deps, fleet.planner, { project: fleet.project.slug });
    if (built.outcome !== 'created') throw new Error(built.outcome);
    deps.clock.set('2026-01-15T09:00:00Z'); // ten days on
    expect(await autoApprovePlans(deps)).not.toContain(built.plan.id);
  });
});
