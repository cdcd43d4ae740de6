import { beforeAll, describe, expect, it } from 'vitest';
import type { InteractionResult } from '../../bot/chat/model.js';
import { getAccessRequest, getGrant } from '../../storage/access.js';
import { getApprovalRequest } from '../../storage/approvals.js';
import { listGrantServers } from '../../storage/grant-servers.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { sweepApprovals } from '../approvals/engine.js';
import { createActor, createProjectRow, uniqueHandle } from '../approvals/testing.js';
import { createRegistry } from '../index.js';
import { removeUserKey } from '../keys/register.js';
import type { Actor } from '../rbac/authorize.js';
import type { Registry } from '../registry.js';
import { handleInteraction } from '../router.js';
import {
  accessSubjects,
  addServer,
  linkConsole,
  makeKeyPair,
  recordingTargets,
  registerUserKey,
} from './testing.js';
import { runGrantWork } from './work.js';

const db = useTestDatabase('access_flow');
const HOUR = 3_600_000;

let deps: TestDeps;
let registry: Registry;
let targets: ReturnType<typeof recordingTargets>;
let project: { id: number; slug: string };
let server: string;
let alice: Actor;
let bob: Actor;
let carol: Actor;
let dave: Actor;
let admin: Actor;

beforeAll(async () => {
  const { sql } = db.current;
  targets = recordingTargets();
  deps = createTestDeps(sql, { approvalSubjects: accessSubjects(), targets: targets.factory });
  registry = createRegistry();
  project = await createProjectRow(sql, uniqueHandle('shop'), {
    approvals: { required: 2, remindAfter: '1h', escalateAfter: '4h', expiresIn: '24h' },
    access: { defaultLogin: 'deploy', maxDuration: { operator: '8h' } },
  });
  server = uniqueHandle('web');
  await addServer(sql, { name: server, projectId: project.id });
  alice = await createActor(sql, uniqueHandle('alice'), [['operator', project.id]]);
  bob = await createActor(sql, uniqueHandle('bob'), [['approver', project.id]]);
  carol = await createActor(sql, uniqueHandle('carol'), [['approver', project.id]]);
  dave = await createActor(sql, uniqueHandle('dave'), [['approver', project.id]]);
  admin = await createActor(sql, uniqueHandle('root'), [['admin', null]]);
  await linkConsole(sql, alice, bob, carol, dave, admin);
  await registerUserKey(deps, alice, makeKeyPair('alice').publicKey);
});

let seq = 0;
function say(
  actor: Actor,
  text: string,
  on: TestDeps = deps,
  reg: Registry = registry,
): Promise<InteractionResult> {
  seq += 1;
  return handleInteraction(
    {
      kind: 'command',
      text,
      dedupeKey: `flow-${process.pid}-${seq}`,
      user: { platform: 'console', externalId: actor.user.handle },
      channel: 'test',
      receivedAt: on.clock.now(),
    },
    on,
    reg,
  );
}

function ids(result: InteractionResult): { requestId: number; approvalId: number } {
  const match = /Request #(\d+) \(approval #(\d+)\)/.exec(result.reply?.text ?? '');
  expect(match, result.reply?.text).not.toBeNull();
  return { requestId: Number(match![1]), approvalId: Number(match![2]) };
}

async function ask(reason = 'deploy hotfix', extra = ''): Promise<{ requestId: number; approvalId: number }> {
  return ids(await say(alice, `access request ${server} for 2h ticket OPS-12 reason "${reason}" ${extra}`));
}

async function outboxTexts(kind: string): Promise<string[]> {
  const rows = await db.current.sql<{ payload: { reply: { text?: string; header?: string } } }[]>`
    select payload from outbox where kind = ${kind} order by id`;
  return rows.map((r) => `${r.payload.reply.header ?? ''} ${r.payload.reply.text ?? ''}`);
}

describe('access requests through the console router', () => {
  it('opens a form when the duration, ticket or reason are missing', async () => {
    const result = await say(alice, `access request ${server}`);
    expect(result.reply?.form?.id).toBe('access.request');
    expect(result.reply?.form?.fields.map((f) => f.id)).toEqual(
      expect.arrayContaining(['target', 'duration', 'ticket', 'reason']),
    );
    expect(result.reply?.form?.fields.find((f) => f.id === 'target')?.initial).toBe(server);
  });

  it('refuses self-approval and needs two distinct approvers (2 of 3); the clock starts at approval', async () => {
    const { requestId, approvalId } = await ask();
    const self = await say(alice, `approve ${approvalId}`);
    expect(self.reply?.tone).toBe('error');
    expect(self.reply?.text).toContain('someone else must decide');

    deps.clock.advance(30 * 60_000);
    expect((await say(bob, `approve ${approvalId}`)).reply?.text).toContain('1 of 2');
    expect((await getAccessRequest(db.current.sql, requestId))!.status).toBe('pending');
    const again = await say(bob, `approve ${approvalId}`);
    expect(again.reply?.text).toContain('each person counts once');

    expect((await say(carol, `approve ${approvalId}`)).reply?.text).toContain('approved');
    const [row] = await db.current.sql<
      { id: number }[]
    >`select id from grants where request_id = ${requestId}`;
    const grant = (await getGrant(db.current.sql, row!.id))!;
    expect(grant.startsAt).toEqual(deps.clock.now());
    expect(grant.expiresAt.getTime() - grant.startsAt.getTime()).toBe(2 * HOUR);
    expect((await listGrantServers(db.current.sql, grant.id)).map((s) => s.state)).toEqual(['pending']);

    // nothing touched the server inside the approval: the worker does it after the commit
    expect(targets.calls.filter((c) => c.tag === `warden-grant-${grant.id}`)).toEqual([]);
    await runGrantWork(deps);
    const add = targets.calls.find((c) => c.tag === `warden-grant-${grant.id}`)!;
    expect(add).toMatchObject({ server, op: 'add', login: 'deploy' });
    const expiry = grant.expiresAt.toISOString().slice(0, 19).replace(/[-:T]/g, '');
    expect(add.keyLine).toMatch(
      new RegExp(`^expiry-time="${expiry}Z" ssh-ed25519 [A-Za-z0-9+/=]+ grant-${grant.id}$`),
    );
    expect((await listGrantServers(db.current.sql, grant.id))[0]!.state).toBe('installed');
    const thread = await outboxTexts('thread-reply');
    expect(thread.some((t) => t.includes(`Grant #${grant.id}: Key added for deploy on ${server}`))).toBe(
      true,
    );
  });

  it('expires an unanswered request, and no grant appears', async () => {
    const { requestId, approvalId } = await ask('nobody answers');
    deps.clock.advance(25 * HOUR);
    const swept = await sweepApprovals(deps);
    expect(swept.expired).toContain(approvalId);
    expect((await getAccessRequest(db.current.sql, requestId))!.status).toBe('expired');
    expect(await db.current.sql`select 1 from grants where request_id = ${requestId}`).toHaveLength(0);
  });

  it('reminds the approvers after an hour, then escalates after four', async () => {
    const { approvalId } = await ask('waiting for a while');
    deps.clock.advance(61 * 60_000);
    expect((await sweepApprovals(deps)).reminded).toContain(approvalId);
    expect((await sweepApprovals(deps)).reminded).not.toContain(approvalId);
    deps.clock.advance(3 * HOUR);
    expect((await sweepApprovals(deps)).escalated).toContain(approvalId);
    const request = (await getApprovalRequest(db.current.sql, approvalId))!;
    expect(request.remindedAt).not.toBeNull();
    expect(request.escalatedAt).not.toBeNull();
    const thread = await outboxTexts('thread-reply');
    expect(thread.some((t) => t.includes(`Reminder: approval #${approvalId}`))).toBe(true);
    expect(thread.some((t) => t.includes(`Escalated: approval #${approvalId}`))).toBe(true);
    await say(alice, `approvals cancel ${approvalId}`);
  });

  it('loses nothing when Warden restarts while a request is pending', async () => {
    const { requestId, approvalId } = await ask('across a restart');
    // a new process: new connection, deps and registry on the same database
    const sql2 = db.current.connectAgain();
    const deps2 = createTestDeps(sql2, {
      clock: deps.clock,
      approvalSubjects: accessSubjects(),
      targets: targets.factory,
    });
    const registry2 = createRegistry();
    expect((await say(bob, `approve ${approvalId}`, deps2, registry2)).reply?.text).toContain('1 of 2');
    expect((await say(dave, `approve ${approvalId}`, deps2, registry2)).reply?.text).toContain('approved');
    expect((await getAccessRequest(sql2, requestId))!.status).toBe('approved');
    expect(await sql2`select 1 from grants where request_id = ${requestId}`).toHaveLength(1);
  });

  it('refuses a duration over the role cap, a missing key and a request for someone without the permission', async () => {
    const long = await say(alice, `access request ${server} for 9h ticket OPS-12 reason "long job"`);
    expect(long.reply?.text).toContain('8h your role (operator) may ask for');
    const keyless = await createActor(db.current.sql, uniqueHandle('kim'), [['operator', project.id]]);
    await linkConsole(db.current.sql, keyless);
    const noKey = await say(keyless, `access request ${server} for 1h ticket OPS-12 reason "need in"`);
    expect(noKey.reply?.text).toContain('keys add');
    const outsider = await createActor(db.current.sql, uniqueHandle('out'), [['auditor', project.id]]);
    await linkConsole(db.current.sql, outsider);
    const refused = await say(outsider, `access request ${server} for 1h ticket OPS-12 reason "curious"`);
    expect(refused.reply?.text).toContain('access:request');
  });
});

describe('keys that change hands', () => {
  it('grants nothing when the requester removed the key before the approval', async () => {
    const ivy = await createActor(db.current.sql, uniqueHandle('ivy'), [['operator', project.id]]);
    await linkConsole(db.current.sql, ivy);
    await registerUserKey(deps, ivy, makeKeyPair('ivy').publicKey);
    const { requestId, approvalId } = ids(
      await say(ivy, `access request ${server} for 1h ticket OPS-12 reason "quick look"`),
    );
    const request = (await getAccessRequest(db.current.sql, requestId))!;
    await removeUserKey(deps, ivy, request.keyFingerprint);
    await say(bob, `approve ${approvalId}`);
    const last = await say(carol, `approve ${approvalId}`);
    expect(last.reply?.text).toContain('no longer has the key');
    expect((await getAccessRequest(db.current.sql, requestId))!.status).toBe('pending');
    expect(await db.current.sql`select 1 from grants where request_id = ${requestId}`).toHaveLength(0);
  });
});

describe('hostile input never reaches a shell', () => {
  it('takes a submitted form with a multi-line reason as data', async () => {
    seq += 1;
    const reason = 'line one; rm -rf /\n$(reboot)\n\tthird';
    const result = await handleInteraction(
      {
        kind: 'form',
        formId: 'access.request',
        values: { target: server, duration: '1h', ticket: 'ops-12', reason, login: '', emergency: 'no' },
        dedupeKey: `flow-form-${process.pid}-${seq}`,
        user: { platform: 'console', externalId: alice.user.handle },
        channel: 'test',
        receivedAt: deps.clock.now(),
      },
      deps,
      registry,
    );
    const { requestId } = ids(result);
    expect(await getAccessRequest(db.current.sql, requestId)).toMatchObject({
      reason,
      ticket: 'OPS-12',
      login: 'deploy',
    });
  });

  it.each([
    ['a command separator', 'root; rm -rf /'],
    ['a command substitution', '$(id)'],
    ['backticks', '`reboot`'],
    ['a space', 'deploy x'],
    ['upper case', 'Deploy'],
    ['a unicode look-alike', 'dеploy'],
    ['root itself', 'root'],
  ])('refuses %s as a login and stores nothing', async (_label, login) => {
    const before = await db.current.sql`select id from access_requests`;
    const result = await say(
      alice,
      `access request ${server} for 1h as "${login}" ticket OPS-12 reason "x y z"`,
    );
    expect(result.reply?.tone).toBe('error');
    expect(result.reply?.text).toMatch(/not a login name|does not grant access as root/);
    expect(await db.current.sql`select id from access_requests`).toHaveLength(before.length);
  });

  it.each([
    ['OPS-12; rm -rf /'],
    ['$(curl evil)'],
    ['OPS-12\nOPS-13'],
  ])('refuses the ticket %j', async (ticket) => {
    const result = await say(
      alice,
      `access request ${server} for 1h ticket ${JSON.stringify(ticket)} reason "x y z"`,
    );
    expect(result.reply?.tone).toBe('error');
    expect(result.reply?.text).toContain('ticket');
  });

  it('stores reasons with shell syntax and newlines as data, and never puts them on a server', async () => {
    const reason = 'fix it; rm -rf / && $(reboot) `id`\nsecond line';
    const { requestId, approvalId } = await ask(reason);
    expect((await getAccessRequest(db.current.sql, requestId))!.reason).toBe(reason);
    await say(bob, `approve ${approvalId}`);
    await say(carol, `approve ${approvalId}`);
    await runGrantWork(deps);
    const [row] = await db.current.sql<
      { id: number }[]
    >`select id from grants where request_id = ${requestId}`;
    const add = targets.calls.find((c) => c.tag === `warden-grant-${row!.id}`)!;
    expect(add.keyLine).not.toMatch(/rm -rf|reboot|\n/);
  });
});
