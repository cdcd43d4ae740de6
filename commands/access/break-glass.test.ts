import { beforeAll, describe, expect, it } from 'vitest';
import { bearer, tokenFor } from '../../bot/api/testing.js';
import { createApp } from '../../bot/app.js';
import { AppError } from '../../lib/errors.js';
import { getAccessRequest, getGrant } from '../../storage/access.js';
import { getApprovalRequest } from '../../storage/approvals.js';
import { listGrantServers } from '../../storage/grant-servers.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { cancelApproval, decide } from '../approvals/engine.js';
import { createActor, createProjectRow, uniqueHandle } from '../approvals/testing.js';
import type { Actor } from '../rbac/authorize.js';
import { expireGrants } from './expire.js';
import { listAccess, renderAccessList } from './list.js';
import { extendAccess, requestAccess } from './request.js';
import { revokeGrant } from './revoke.js';
import { accessSubjects, addServer, makeKeyPair, recordingTargets, registerUserKey } from './testing.js';
import { runGrantWork } from './work.js';

const db = useTestDatabase('access_break_glass');
const HOUR = 3_600_000;

let deps: TestDeps;
let targets: ReturnType<typeof recordingTargets>;
let project: { id: number; slug: string };
let certProject: { id: number; slug: string };
let lead: Actor;
let alice: Actor;
let bob: Actor;
let mallory: Actor;

beforeAll(async () => {
  const { sql } = db.current;
  targets = recordingTargets();
  deps = createTestDeps(sql, { approvalSubjects: accessSubjects(), targets: targets.factory });
  project = await createProjectRow(sql, uniqueHandle('pay'), { access: { defaultLogin: 'ops' } });
  certProject = await createProjectRow(sql, uniqueHandle('vault'), {
    access: { defaultLogin: 'ops', mode: 'certificate' },
  });
  await addServer(sql, { name: uniqueHandle('db'), projectId: project.id });
  await addServer(sql, { name: uniqueHandle('db'), projectId: project.id });
  await addServer(sql, { name: uniqueHandle('kv'), projectId: certProject.id });
  lead = await createActor(sql, uniqueHandle('lead'), [
    ['admin', project.id],
    ['operator', certProject.id],
  ]);
  alice = await createActor(sql, uniqueHandle('alice'), [['operator', project.id]]);
  bob = await createActor(sql, uniqueHandle('bob'), [
    ['approver', project.id],
    ['approver', certProject.id],
  ]);
  mallory = await createActor(sql, uniqueHandle('mallory'), [['operator', project.id]]);
  for (const a of [lead, alice, mallory])
    await registerUserKey(deps, a, makeKeyPair(a.user.handle).publicKey);
});

async function refusal(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

const ask = (actor: Actor, extra: Partial<Parameters<typeof requestAccess>[2]> = {}) =>
  requestAccess(deps, actor, {
    target: project.slug,
    duration: '2h',
    ticket: 'INC-4',
    reason: 'database on fire',
    ...extra,
  });

describe('break-glass', () => {
  it('is refused without access:break-glass', async () => {
    const error = await refusal(ask(alice, { emergency: true }));
    expect(error.code).toBe('forbidden');
    expect(error.message).toContain('access:break-glass');
  });

  it('grants at once, alerts the security channel and opens a review the requester cannot withdraw', async () => {
    const outcome = await ask(lead, { emergency: true });
    expect(outcome.request.status).toBe('approved');
    expect(outcome.grant).toMatchObject({ status: 'active', emergency: true });
    expect(outcome.grant!.startsAt).toEqual(deps.clock.now());
    const review = (await getApprovalRequest(db.current.sql, outcome.reviewId!))!;
    expect(review).toMatchObject({
      subjectType: 'access-review',
      status: 'pending',
      permission: 'access:approve',
    });

    const [alert] = await db.current.sql<{ payload: { channelRole: string; reply: { header: string } } }[]>`
      select payload from outbox where kind = 'channel-post' order by id desc limit 1`;
    expect(alert!.payload.channelRole).toBe('security');
    expect(alert!.payload.reply.header).toContain('BREAK-GLASS');

    await runGrantWork(deps);
    expect(targets.calls.filter((c) => c.tag === `warden-grant-${outcome.grant!.id}`)).toHaveLength(2);

    const withdraw = await refusal(cancelApproval(deps, { actor: lead, requestId: review.id }));
    expect(withdraw.message).toContain('cannot be withdrawn');
    expect((await getApprovalRequest(db.current.sql, review.id))!.status).toBe('pending');

    await decide(deps, { actor: bob, requestId: review.id, decision: 'approve' });
    expect((await getGrant(db.current.sql, outcome.grant!.id))!.reviewedBy).toBe(bob.user.id);
  });

  it('revokes the grant when the reviewer denies it', async () => {
    const outcome = await ask(lead, { emergency: true, reason: 'again' });
    await runGrantWork(deps);
    await decide(deps, {
      actor: bob,
      requestId: outcome.reviewId!,
      decision: 'deny',
      comment: 'not an emergency',
    });
    expect((await getGrant(db.current.sql, outcome.grant!.id))!.status).toBe('revoked');
    await runGrantWork(deps);
    const removed = targets.calls.filter(
      (c) => c.tag === `warden-grant-${outcome.grant!.id}` && c.op === 'remove',
    );
    expect(removed).toHaveLength(2);
  });
});

describe('extension, revocation and expiry', () => {
  async function approvedGrant(actor: Actor) {
    const outcome = await ask(actor, { reason: 'rotate the logs' });
    await decide(deps, { actor: bob, requestId: outcome.request.approvalId!, decision: 'approve' });
    await runGrantWork(deps);
    const [row] = await db.current.sql<
      { id: number }[]
    >`select id from grants where request_id = ${outcome.request.id}`;
    return (await getGrant(db.current.sql, row!.id))!;
  }

  it('extends a grant only after a new approval, rewriting each line with the new expiry', async () => {
    const grant = await approvedGrant(alice);
    const extension = await extendAccess(deps, alice, {
      grantId: grant.id,
      duration: '1h',
      reason: 'still rotating',
    });
    expect((await getGrant(db.current.sql, grant.id))!.expiresAt).toEqual(grant.expiresAt);
    await decide(deps, { actor: bob, requestId: extension.request.approvalId!, decision: 'approve' });
    const extended = (await getGrant(db.current.sql, grant.id))!;
    expect(extended.expiresAt.getTime()).toBe(grant.expiresAt.getTime() + HOUR);
    expect((await getAccessRequest(db.current.sql, extension.request.id))!.status).toBe('approved');
    await runGrantWork(deps);
    const adds = targets.calls.filter((c) => c.tag === `warden-grant-${grant.id}` && c.op === 'add');
    expect(adds).toHaveLength(4);
    const expiry = extended.expiresAt.toISOString().slice(0, 19).replace(/[-:T]/g, '');
    expect(adds.slice(2).every((c) => c.keyLine?.startsWith(`expiry-time="${expiry}Z"`))).toBe(true);
  });

  it('lets only the requester, an approver or an admin revoke', async () => {
    const grant = await approvedGrant(alice);
    expect((await refusal(revokeGrant(deps, { actor: mallory, grantId: grant.id }))).code).toBe('forbidden');
    expect((await refusal(revokeGrant(deps, { actor: mallory, grantId: 999_999 }))).code).toBe('not_found');
    const revoked = await revokeGrant(deps, { actor: bob, grantId: grant.id, reason: 'done' });
    expect(revoked.status).toBe('revoked');
    expect((await refusal(revokeGrant(deps, { actor: alice, grantId: grant.id }))).code).toBe('conflict');
  });

  it('keeps retrying a removal that failed, and alerts the security channel once', async () => {
    const grant = await approvedGrant(mallory);
    const [first] = await listGrantServers(db.current.sql, grant.id);
    targets.failOn.add(first!.serverName);
    deps.clock.advance(3 * HOUR);
    const result = await expireGrants(deps);
    expect(result.expired).toContain(grant.id);
    expect(result.work.failed).toBeGreaterThanOrEqual(1);
    const states = await listGrantServers(db.current.sql, grant.id);
    expect(states.find((s) => s.serverName === first!.serverName)).toMatchObject({
      state: 'removing',
      attempts: 1,
    });
    const alerts = await db.current.sql`
      select 1 from outbox where kind = 'channel-post' and payload->'reply'->>'header' like ${`Grant #${grant.id}:%`}`;
    expect(alerts).toHaveLength(1);

    targets.failOn.clear();
    // not due again before its backoff
    expect((await runGrantWork(deps, { grantId: grant.id })).removed).toBe(0);
    deps.clock.advance(60_000);
    expect((await runGrantWork(deps, { grantId: grant.id })).removed).toBe(1);
    expect((await listGrantServers(db.current.sql, grant.id)).every((s) => s.state === 'removed')).toBe(true);
  });

  it('lists my grants, and the project’s for an approver', async () => {
    const mine = renderAccessList(await listAccess(deps, alice), deps.clock.now());
    expect(mine.items?.some((i) => i.text.startsWith('Grant #'))).toBe(true);
    const asApprover = await listAccess(deps, bob);
    expect(asApprover.grants.some((g) => g.requesterId === lead.user.id)).toBe(true);
    const other = await listAccess(deps, mallory);
    expect(other.grants.every((g) => g.requesterId === mallory.user.id)).toBe(true);
  });
});

describe('certificates over the API', () => {
  it('gives the requester the certificate of a grant, and nobody else', async () => {
    const outcome = await requestAccess(deps, lead, {
      target: certProject.slug,
      duration: '1h',
      ticket: 'OPS-9',
      reason: 'read the vault logs',
    });
    await decide(deps, { actor: bob, requestId: outcome.request.approvalId!, decision: 'approve' });
    const [row] = await db.current.sql<
      { id: number }[]
    >`select id from grants where request_id = ${outcome.request.id}`;
    const grant = (await getGrant(db.current.sql, row!.id))!;
    const dm = await db.current.sql<{ payload: { userId: number; reply: { text: string } } }[]>`
      select payload from outbox where kind = 'direct' and payload->'reply'->>'header' like ${`%grant #${grant.id}`}`;
    expect(dm[0]!.payload.userId).toBe(lead.user.id);
    expect(dm[0]!.payload.reply.text).toContain(grant.certificate!);

    const app = createApp({ deps });
    const mine = await app.request(`/api/v1/grants/${grant.id}/certificate`, {
      headers: bearer(await tokenFor(deps, lead.user, ['access:request'])),
    });
    expect(mine.status).toBe(200);
    expect(await mine.json()).toMatchObject({
      grantId: grant.id,
      certificate: grant.certificate,
      login: 'ops',
    });
    const theirs = await app.request(`/api/v1/grants/${grant.id}/certificate`, {
      headers: bearer(await tokenFor(deps, mallory.user, ['access:request'])),
    });
    expect(theirs.status).toBe(404);
  });
});
