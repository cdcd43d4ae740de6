import { beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../lib/errors.js';
import { getApprovalRequest, listApprovalDecisions } from '../../storage/approvals.js';
import { withTx } from '../../storage/db.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { recordEvent } from '../audit/trail.js';
import type { Actor } from '../rbac/authorize.js';
import { cancelApproval, decide, type OpenApprovalInput, openApproval } from './engine.js';
import type { ApprovalSubject } from './subjects.js';
import { createActor, createProjectRow, uniqueHandle } from './testing.js';

const db = useTestDatabase('approvals_engine');
const HOUR = 3_600_000;

let deps: TestDeps;
let project: { id: number; slug: string };
let alice: Actor;
let bob: Actor;
let carol: Actor;
let mallory: Actor;
const calls: { hook: string; requestId: number; actor: string }[] = [];

const subject: ApprovalSubject = {
  type: 'test-thing',
  async onApproved(tx, d, request, context) {
    calls.push({ hook: 'approved', requestId: request.id, actor: context.actor });
    // proves the hook runs in the deciding transaction: its write commits with the approval
    await recordEvent(tx, d, {
      actor: context.actor,
      action: 'test.applied',
      subject: { type: 'test-thing', id: request.subjectId },
    });
  },
  async onDenied(_tx, _d, request, context) {
    calls.push({ hook: 'denied', requestId: request.id, actor: context.actor });
  },
  async onExpired(_tx, _d, request, context) {
    calls.push({ hook: 'expired', requestId: request.id, actor: context.actor });
  },
  async onCancelled(_tx, _d, request, context) {
    calls.push({ hook: 'cancelled', requestId: request.id, actor: context.actor });
  },
};

beforeAll(async () => {
  const { sql } = db.current;
  deps = createTestDeps(sql, { approvalSubjects: new Map([[subject.type, subject]]) });
  project = await createProjectRow(sql, uniqueHandle('proj'));
  alice = await createActor(sql, uniqueHandle('alice'), [['operator', project.id]]);
  bob = await createActor(sql, uniqueHandle('bob'), [['approver', project.id]]);
  carol = await createActor(sql, uniqueHandle('carol'), [['approver', null]]);
  mallory = await createActor(sql, uniqueHandle('mallory'), [['operator', project.id]]);
});

function open(requester: Actor, overrides: Partial<OpenApprovalInput> = {}) {
  return withTx(db.current.sql, (tx) =>
    openApproval(tx, deps, {
      subject: { type: 'test-thing', id: uniqueHandle('thing') },
      projectId: project.id,
      requester,
      permission: 'access:approve',
      title: 'Let alice onto web-01',
      details: [{ label: 'Server', value: 'web-01' }],
      ...overrides,
    }),
  );
}

async function refusal(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

async function statusOf(id: number) {
  return (await getApprovalRequest(db.current.sql, id))!.status;
}

async function trailActions(id: number): Promise<string[]> {
  const rows = await db.current.sql<{ action: string }[]>`
    select action from audit_events where subject_type = 'approval' and subject_id = ${String(id)} order by seq`;
  return rows.map((r) => r.action);
}

describe('approvals engine', () => {
  it('opens a request with its message, buttons and a thread reply naming who may decide', async () => {
    const { request, message, approvers } = await open(alice);
    expect(request.status).toBe('pending');
    expect(message.buttons?.map((b) => [b.actionId, b.value])).toEqual([
      ['approval.approve', String(request.id)],
      ['approval.deny', String(request.id)],
      ['approval.details', String(request.id)],
    ]);
    expect(approvers.map((u) => u.handle).sort()).toEqual([bob.user.handle, carol.user.handle].sort());
    const outbox = await db.current.sql<{ kind: string; payload: { reply: { text?: string } } }[]>`
      select kind, payload from outbox where ordering_key = ${`console:approval:${request.id}`} order by id`;
    expect(outbox.map((o) => o.kind)).toEqual(['subject-message', 'thread-reply']);
    expect(outbox[1]!.payload.reply.text).toContain(bob.user.handle);
    expect(await trailActions(request.id)).toEqual(['approval.requested']);
  });

  it('refuses the requester deciding their own request and changes nothing', async () => {
    const { request } = await open(alice);
    for (const decision of ['approve', 'deny'] as const) {
      const error = await refusal(decide(deps, { actor: alice, requestId: request.id, decision }));
      expect(error.code).toBe('forbidden');
      expect(error.message).toContain('someone else must decide');
    }
    expect(await listApprovalDecisions(db.current.sql, request.id)).toEqual([]);
    expect(await statusOf(request.id)).toBe('pending');
  });

  it('needs two distinct approvers when two are required, and counts a repeated approval once', async () => {
    deps.clock.set('2026-01-05T10:02:00Z');
    const { request } = await open(alice, { requiredApprovals: 2 });
    const first = await decide(deps, {
      actor: bob,
      requestId: request.id,
      decision: 'approve',
      comment: 'ok',
    });
    expect(first.outcome).toBe('recorded');
    expect(first.message.buttons).toHaveLength(3);
    expect(first.message.context?.[0]).toBe(`✔ approved by ${bob.user.handle} at 2026-01-05 10:02 UTC — ok`);

    const again = await refusal(decide(deps, { actor: bob, requestId: request.id, decision: 'approve' }));
    expect(again.code).toBe('already_decided');
    expect(again.message).toContain('you already approved');
    expect(again.message).toContain('1 more approval');
    expect(await statusOf(request.id)).toBe('pending');

    deps.clock.advance(2 * 60_000);
    const second = await decide(deps, { actor: carol, requestId: request.id, decision: 'approve' });
    expect(second.outcome).toBe('approved');
    expect(second.message.buttons).toBeUndefined();
    expect(second.message.text).toContain('Approved');
    expect(await statusOf(request.id)).toBe('approved');
    expect(calls.filter((c) => c.requestId === request.id)).toEqual([
      { hook: 'approved', requestId: request.id, actor: `user:${carol.user.handle}` },
    ]);
    expect(await trailActions(request.id)).toEqual([
      'approval.requested',
      'approval.approved-by',
      'approval.approved-by',
      'approval.approved',
    ]);
    const applied = await db.current.sql`
      select 1 from audit_events where action = 'test.applied' and subject_id = ${request.subjectId}`;
    expect(applied).toHaveLength(1);
  });

  it('answers a click on a finished request with who decided it and when', async () => {
    const { request } = await open(alice);
    await decide(deps, { actor: bob, requestId: request.id, decision: 'approve' });
    const late = await refusal(decide(deps, { actor: carol, requestId: request.id, decision: 'deny' }));
    expect(late.code).toBe('already_decided');
    expect(late.message).toMatch(
      new RegExp(`already approved by ${bob.user.handle} at \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC`),
    );
    expect(await listApprovalDecisions(db.current.sql, request.id)).toHaveLength(1);
  });

  it('ends the request on the first deny, calling the subject once', async () => {
    deps.clock.set('2026-01-06T08:30:00Z');
    const { request } = await open(alice, { requiredApprovals: 2 });
    const denied = await decide(deps, {
      actor: bob,
      requestId: request.id,
      decision: 'deny',
      comment: 'not today',
    });
    expect(denied.outcome).toBe('denied');
    expect(denied.message.text).toContain('Denied');
    expect(denied.message.context).toContain(
      `✘ denied by ${bob.user.handle} at 2026-01-06 08:30 UTC — not today`,
    );
    expect(await statusOf(request.id)).toBe('denied');
    const after = await refusal(decide(deps, { actor: carol, requestId: request.id, decision: 'approve' }));
    expect(after.message).toContain(`already denied by ${bob.user.handle}`);
    expect(calls.filter((c) => c.requestId === request.id).map((c) => c.hook)).toEqual(['denied']);
    expect(await trailActions(request.id)).toEqual([
      'approval.requested',
      'approval.denied-by',
      'approval.denied',
    ]);
  });

  it('records a deny without ending the request when denyEnds is false', async () => {
    const { request } = await open(alice, { denyEnds: false });
    expect((await decide(deps, { actor: bob, requestId: request.id, decision: 'deny' })).outcome).toBe(
      'recorded',
    );
    expect((await decide(deps, { actor: carol, requestId: request.id, decision: 'approve' })).outcome).toBe(
      'approved',
    );
  });

  it('refuses someone without the permission and changes nothing', async () => {
    const { request } = await open(alice);
    const error = await refusal(decide(deps, { actor: mallory, requestId: request.id, decision: 'approve' }));
    expect(error.code).toBe('forbidden');
    expect(error.message).toContain('access:approve');
    expect(error.message).toContain(bob.user.handle);
    expect(await listApprovalDecisions(db.current.sql, request.id)).toEqual([]);
    expect(await trailActions(request.id)).toEqual(['approval.requested']);
  });

  it('refuses a disabled approver', async () => {
    const { request } = await open(alice);
    const ghost = await createActor(db.current.sql, uniqueHandle('ghost'), [['admin', null]], {
      disabled: true,
    });
    expect(
      (await refusal(decide(deps, { actor: ghost, requestId: request.id, decision: 'approve' }))).code,
    ).toBe('forbidden');
  });

  it('treats a request past its expiry as expired even before the sweep, and refuses the decision', async () => {
    const start = deps.clock.now();
    const { request } = await open(alice, { expiresAt: new Date(start.getTime() + HOUR) });
    deps.clock.advance(HOUR);
    const error = await refusal(decide(deps, { actor: bob, requestId: request.id, decision: 'approve' }));
    expect(error.code).toBe('expired');
    expect(error.message).toContain('expired at');
    expect(await statusOf(request.id)).toBe('expired');
    expect(await listApprovalDecisions(db.current.sql, request.id)).toEqual([]);
    expect(await trailActions(request.id)).toEqual(['approval.requested', 'approval.expired']);
    expect(calls.filter((c) => c.requestId === request.id).map((c) => c.hook)).toEqual(['expired']);
  });

  it('refuses a second pending request for the same subject, naming the first', async () => {
    const id = uniqueHandle('same');
    const { request } = await open(alice, { subject: { type: 'test-thing', id } });
    const error = await refusal(open(alice, { subject: { type: 'test-thing', id } }));
    expect(error.code).toBe('conflict');
    expect(error.message).toContain(`#${request.id}`);
  });

  it('refuses to approve a subject this process has no handler for, leaving it pending', async () => {
    const { request } = await open(alice, { subject: { type: 'unknown-kind', id: uniqueHandle('x') } });
    const error = await refusal(decide(deps, { actor: bob, requestId: request.id, decision: 'approve' }));
    expect(error.code).toBe('unavailable');
    expect(await statusOf(request.id)).toBe('pending');
    expect(await listApprovalDecisions(db.current.sql, request.id)).toEqual([]);
  });

  it('lets only the requester cancel', async () => {
    const { request } = await open(alice);
    expect((await refusal(cancelApproval(deps, { actor: bob, requestId: request.id }))).code).toBe(
      'forbidden',
    );
    const { message } = await cancelApproval(deps, {
      actor: alice,
      requestId: request.id,
      reason: 'done by hand',
    });
    expect(message.text).toContain('Cancelled');
    expect(await statusOf(request.id)).toBe('cancelled');
    expect(calls.filter((c) => c.requestId === request.id).map((c) => c.hook)).toEqual(['cancelled']);
    const late = await refusal(decide(deps, { actor: bob, requestId: request.id, decision: 'approve' }));
    expect(late.message).toContain(`cancelled by ${alice.user.handle}`);
  });

  it('refuses bad input without writing anything', async () => {
    expect((await refusal(open(alice, { title: '   ' }))).code).toBe('bad_request');
    expect((await refusal(open(alice, { requiredApprovals: 11 }))).code).toBe('bad_request');
    expect((await refusal(open(alice, { expiresAt: deps.clock.now() }))).code).toBe('bad_request');
    expect((await refusal(open(alice, { projectId: 987654 }))).code).toBe('not_found');
    expect((await refusal(decide(deps, { actor: bob, requestId: 987654, decision: 'approve' }))).code).toBe(
      'not_found',
    );
    for (const requestId of [Number.NaN, -1, 0, 1.5, 2 ** 60]) {
      const bad = await refusal(decide(deps, { actor: bob, requestId, decision: 'approve' }));
      expect(bad.code).toBe('bad_request');
    }
    const { request } = await open(alice);
    const long = await refusal(
      decide(deps, { actor: bob, requestId: request.id, decision: 'approve', comment: 'x'.repeat(501) }),
    );
    expect(long.code).toBe('bad_request');
    expect(await listApprovalDecisions(db.current.sql, request.id)).toEqual([]);
  });

  it('lets two approvers racing on the last approval finish it exactly once', async () => {
    const { request } = await open(alice);
    const results = await Promise.allSettled([
      decide(deps, { actor: bob, requestId: request.id, decision: 'approve' }),
      decide(deps, { actor: carol, requestId: request.id, decision: 'approve' }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect((rejected.reason as AppError).code).toBe('already_decided');
    expect(calls.filter((c) => c.requestId === request.id)).toHaveLength(1);
  });

  it('opens only one of two simultaneous requests for the same subject', async () => {
    const id = uniqueHandle('race');
    const results = await Promise.allSettled([
      open(alice, { subject: { type: 'test-thing', id } }),
      open(mallory, { subject: { type: 'test-thing', id } }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect((rejected.reason as AppError).code).toBe('conflict');
    const rows = await db.current.sql`select id from approval_requests where subject_id = ${id}`;
    expect(rows).toHaveLength(1);
  });
});
