import { beforeAll, describe, expect, it } from 'vitest';
import { approvalsSweepJob } from '../../jobs/approvals-sweep.js';
import type { AppError } from '../../lib/errors.js';
import { getApprovalRequest } from '../../storage/approvals.js';
import { withTx } from '../../storage/db.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import type { Actor } from '../rbac/authorize.js';
import { decide, type OpenApprovalInput, openApproval, sweepApprovals } from './engine.js';
import type { ApprovalSubject } from './subjects.js';
import { createActor, createProjectRow, uniqueHandle } from './testing.js';

const db = useTestDatabase('approvals_sweep');

let deps: TestDeps;
let project: { id: number; slug: string };
let alice: Actor;
let manager: Actor;
let frank: Actor;
const expiredHooks: number[] = [];

const subject: ApprovalSubject = {
  type: 'sweep-thing',
  async onApproved() {},
  async onExpired(_tx, _deps, request) {
    expiredHooks.push(request.id);
  },
};

beforeAll(async () => {
  const { sql } = db.current;
  deps = createTestDeps(sql, { approvalSubjects: new Map([[subject.type, subject]]) });
  project = await createProjectRow(sql, uniqueHandle('sweep'));
  alice = await createActor(sql, uniqueHandle('alice'), [['operator', project.id]]);
  // holds patch:plan (the approval permission) on the project
  manager = await createActor(sql, uniqueHandle('pm'), [['patch-manager', project.id]]);
  // holds only patch:approve, used as the escalation permission
  frank = await createActor(sql, uniqueHandle('frank'), [['approver', project.id]]);
});

function open(overrides: Partial<OpenApprovalInput> = {}) {
  return withTx(db.current.sql, (tx) =>
    openApproval(tx, deps, {
      subject: { type: 'sweep-thing', id: uniqueHandle('t') },
      projectId: project.id,
      requester: alice,
      permission: 'patch:plan',
      escalationPermission: 'patch:approve',
      title: 'Plan for the weekend',
      ...overrides,
    }),
  );
}

async function sweepTwice(id: number) {
  const runs = [await sweepApprovals(deps), await sweepApprovals(deps)];
  const pick = (k: 'expired' | 'reminded' | 'escalated') =>
    runs.map((r) => r[k].filter((x) => x === id).length);
  return { expired: pick('expired'), reminded: pick('reminded'), escalated: pick('escalated') };
}

async function trailCount(id: number, action: string): Promise<number> {
  const [row] = await db.current.sql<{ n: number }[]>`
    select count(*)::int as n from audit_events
    where subject_type = 'approval' and subject_id = ${String(id)} and action = ${action}`;
  return row!.n;
}

async function directsTo(user: Actor, text: string): Promise<number> {
  const [row] = await db.current.sql<{ n: number }[]>`
    select count(*)::int as n from outbox
    where kind = 'direct' and (payload->>'userId')::bigint = ${user.user.id}
      and payload->'reply'->>'text' like ${`%${text}%`}`;
  return row!.n;
}

describe('approvals sweep', () => {
  it('reminds, then escalates, then expires, each exactly once across repeated sweeps', async () => {
    deps.clock.set('2026-02-01T00:00:00Z');
    const { request } = await open();
    expect(request.remindAt?.toISOString()).toBe('2026-02-01T01:00:00.000Z');
    expect(request.escalateAt?.toISOString()).toBe('2026-02-01T04:00:00.000Z');
    expect(request.expiresAt.toISOString()).toBe('2026-02-02T00:00:00.000Z');
    const tag = `#${request.id} `;

    deps.clock.set('2026-02-01T00:59:00Z');
    expect(await sweepTwice(request.id)).toEqual({ expired: [0, 0], reminded: [0, 0], escalated: [0, 0] });

    deps.clock.set('2026-02-01T01:00:00Z');
    expect(await sweepTwice(request.id)).toEqual({ expired: [0, 0], reminded: [1, 0], escalated: [0, 0] });
    expect(await trailCount(request.id, 'approval.reminded')).toBe(1);
    expect(await directsTo(manager, `Reminder: approval ${tag}`)).toBe(1);
    expect(await directsTo(alice, tag)).toBe(0);
    expect(await directsTo(frank, tag)).toBe(0);

    // before escalation, holding only the escalation permission is not enough
    const early = await decide(deps, { actor: frank, requestId: request.id, decision: 'approve' }).catch(
      (e: unknown) => e,
    );
    expect((early as AppError).code).toBe('forbidden');

    deps.clock.set('2026-02-01T04:00:00Z');
    expect(await sweepTwice(request.id)).toEqual({ expired: [0, 0], reminded: [0, 0], escalated: [1, 0] });
    expect(await trailCount(request.id, 'approval.escalated')).toBe(1);
    expect(await directsTo(frank, `Escalated: approval ${tag}`)).toBe(1);
    expect(await directsTo(alice, tag)).toBe(0);

    deps.clock.set('2026-02-02T00:00:00Z');
    expect(await sweepTwice(request.id)).toEqual({ expired: [1, 0], reminded: [0, 0], escalated: [0, 0] });
    expect((await getApprovalRequest(db.current.sql, request.id))!.status).toBe('expired');
    expect(await trailCount(request.id, 'approval.expired')).toBe(1);
    expect(await trailCount(request.id, 'approval.reminded')).toBe(1);
    expect(await trailCount(request.id, 'approval.escalated')).toBe(1);
    expect(expiredHooks.filter((id) => id === request.id)).toHaveLength(1);
    // the requester hears how it ended
    expect(await directsTo(alice, `Approval #${request.id} (Plan for the weekend) expired`)).toBe(1);
    const [actor] = await db.current.sql<{ actor: string }[]>`
      select actor from audit_events where subject_id = ${String(request.id)} and action = 'approval.expired'`;
    expect(actor!.actor).toBe('job:approvals-sweep');
  });

  it('sends only the escalation when the reminder and the escalation fall due in the same sweep', async () => {
    deps.clock.set('2026-03-01T00:00:00Z');
    const { request } = await open();
    deps.clock.set('2026-03-01T05:00:00Z');
    expect(await sweepTwice(request.id)).toEqual({ expired: [0, 0], reminded: [0, 0], escalated: [1, 0] });
    expect(await trailCount(request.id, 'approval.reminded')).toBe(0);
    const after = (await getApprovalRequest(db.current.sql, request.id))!;
    expect(after.remindedAt).not.toBeNull();
  });

  it('lets holders of the escalation permission decide once the request is escalated', async () => {
    deps.clock.set('2026-04-01T00:00:00Z');
    const { request } = await open();
    deps.clock.set('2026-04-01T04:00:00Z');
    await sweepApprovals(deps);
    const result = await decide(deps, { actor: frank, requestId: request.id, decision: 'approve' });
    expect(result.outcome).toBe('approved');
    expect(result.message.context?.some((l) => l.startsWith('↑ escalated at 2026-04-01 04:00 UTC'))).toBe(
      true,
    );
  });

  it('takes the schedule and the number of approvers from the project settings', async () => {
    const strict = await createProjectRow(db.current.sql, uniqueHandle('strict'), {
      approvals: { required: 2, expiresIn: '2h', remindAfter: 'off', escalateAfter: '1h' },
    });
    deps.clock.set('2026-05-01T00:00:00Z');
    const { request } = await open({ projectId: strict.id });
    expect(request.requiredApprovals).toBe(2);
    expect(request.remindAt).toBeNull();
    expect(request.escalateAt?.toISOString()).toBe('2026-05-01T01:00:00.000Z');
    expect(request.expiresAt.toISOString()).toBe('2026-05-01T02:00:00.000Z');
  });

  it('keeps sweeping the others when one subject hook fails, and retries it next time', async () => {
    let fail = true;
    const flaky: ApprovalSubject = {
      type: 'flaky-thing',
      async onApproved() {},
      async onExpired() {
        if (fail) throw new Error('ticket system down');
      },
    };
    const local = {
      ...deps,
      approvalSubjects: new Map([
        [subject.type, subject],
        [flaky.type, flaky],
      ]),
    };
    deps.clock.set('2026-06-01T00:00:00Z');
    const bad = await open({
      subject: { type: 'flaky-thing', id: uniqueHandle('f') },
      remindAt: null,
      escalateAt: null,
    });
    const good = await open({ remindAt: null, escalateAt: null });
    deps.clock.set('2026-06-02T00:00:00Z');
    const first = await sweepApprovals(local);
    expect(first.failed).toContain(bad.request.id);
    expect(first.expired).toContain(good.request.id);
    expect((await getApprovalRequest(db.current.sql, bad.request.id))!.status).toBe('pending');
    fail = false;
    expect((await sweepApprovals(local)).expired).toContain(bad.request.id);
  });

  it('runs every minute as the approvals-sweep job and expires what is due', async () => {
    expect(approvalsSweepJob).toMatchObject({ name: 'approvals-sweep', every: '1 minute' });
    deps.clock.set('2026-07-01T00:00:00Z');
    const { request } = await open({ remindAt: null, escalateAt: null });
    deps.clock.set('2026-07-02T00:00:00Z');
    await approvalsSweepJob.run({}, deps);
    expect((await getApprovalRequest(db.current.sql, request.id))!.status).toBe('expired');
  });
});
