import { beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../lib/errors.js';
import { getApprovalRequest, listApprovalDecisions } from '../../storage/approvals.js';
import { withTx } from '../../storage/db.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import type { Actor } from '../rbac/authorize.js';
import { approvalAction } from './actions.js';
import { approvalsCommand, approveCommand, cancelApprovalCommand, denyCommand } from './commands.js';
import { openApproval } from './engine.js';
import type { ApprovalSubject } from './subjects.js';
import { click, commandContext, createActor, createProjectRow, parsedArgs, uniqueHandle } from './testing.js';

const db = useTestDatabase('approvals_chat');

let deps: TestDeps;
let project: { id: number; slug: string };
let alice: Actor;
let bob: Actor;
let mallory: Actor;

const subject: ApprovalSubject = { type: 'chat-thing', async onApproved() {} };

beforeAll(async () => {
  const { sql } = db.current;
  deps = createTestDeps(sql, { approvalSubjects: new Map([[subject.type, subject]]) });
  project = await createProjectRow(sql, uniqueHandle('chat'));
  alice = await createActor(sql, uniqueHandle('alice'), [['operator', project.id]]);
  bob = await createActor(sql, uniqueHandle('bob'), [['approver', project.id]]);
  mallory = await createActor(sql, uniqueHandle('mallory'), [['auditor', null]]);
});

async function open(requiredApprovals = 1) {
  const { request } = await withTx(db.current.sql, (tx) =>
    openApproval(tx, deps, {
      subject: { type: 'chat-thing', id: uniqueHandle('c') },
      projectId: project.id,
      requester: alice,
      permission: 'access:approve',
      requiredApprovals,
      title: 'SSH to web-01 for 2h',
    }),
  );
  return request;
}

function press(actor: Actor, verb: string, value: string) {
  return approvalAction.run(click(actor, deps, `approval.${verb}`, value), commandContext(actor, deps));
}

async function auditCount(): Promise<number> {
  const [row] = await db.current.sql<{ n: number }[]>`select count(*)::int as n from audit_events`;
  return row!.n;
}

describe('approval buttons', () => {
  it('replaces the message in place when an approver clicks Approve', async () => {
    const request = await open(2);
    const result = await press(bob, 'approve', String(request.id));
    expect(result.reply).toBeUndefined();
    expect(result.replaceOriginal?.visibility).toBe('public');
    expect(result.replaceOriginal?.text).toContain('1 of 2 approvals');
    expect(result.replaceOriginal?.context?.[0]).toMatch(
      new RegExp(`^✔ approved by ${bob.user.handle} at \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC$`),
    );
    expect(result.replaceOriginal?.buttons?.map((b) => b.label)).toEqual(['Approve', 'Deny', 'Details']);
  });

  it('answers a click by someone without the permission privately and changes nothing', async () => {
    const request = await open();
    const before = await auditCount();
    const result = await press(mallory, 'approve', String(request.id));
    expect(result.replaceOriginal).toBeUndefined();
    expect(result.reply).toMatchObject({ visibility: 'private', tone: 'error' });
    expect(result.reply?.text).toContain('access:approve');
    expect(await auditCount()).toBe(before);
    expect((await getApprovalRequest(db.current.sql, request.id))!.status).toBe('pending');
    expect(await listApprovalDecisions(db.current.sql, request.id)).toEqual([]);
  });

  it('answers a double click privately with what the clicker already did', async () => {
    const request = await open(2);
    await press(bob, 'approve', String(request.id));
    const second = await press(bob, 'approve', String(request.id));
    expect(second.replaceOriginal).toBeUndefined();
    expect(second.reply?.visibility).toBe('private');
    expect(second.reply?.text).toContain('you already approved');
    expect(await listApprovalDecisions(db.current.sql, request.id)).toHaveLength(1);
  });

  it('shows the details privately, with who may decide', async () => {
    const request = await open();
    const result = await press(mallory, 'details', String(request.id));
    expect(result.reply?.visibility).toBe('private');
    const who = result.reply?.fields?.find((f) => f.label === 'Who may decide');
    expect(who?.value).toBe(bob.user.handle);
  });

  it.each([
    '; rm -rf /',
    '$(reboot)',
    '12\n13',
    '１２',
    '-1',
    '0',
    '9'.repeat(40),
    '',
  ])('refuses the button value %j privately without touching anything', async (value) => {
    const before = await auditCount();
    const result = await press(bob, 'approve', value);
    expect(result.reply).toMatchObject({ visibility: 'private', tone: 'error' });
    expect(result.replaceOriginal).toBeUndefined();
    expect(await auditCount()).toBe(before);
  });

  it('says so when a button names a request that does not exist', async () => {
    const result = await press(bob, 'deny', '99999999');
    expect(result.reply?.text).toContain('#99999999 does not exist');
  });
});

describe('approval commands', () => {
  it('lists what waits for my decision and my own open requests', async () => {
    const request = await open();
    const forBob = await approvalsCommand.run(parsedArgs(), commandContext(bob, deps, 'approvals'));
    expect(forBob.reply?.items?.map((i) => i.text)).toContain(`#${request.id} SSH to web-01 for 2h`);
    const forAlice = await approvalsCommand.run(parsedArgs(), commandContext(alice, deps, 'approvals'));
    const texts = forAlice.reply?.items?.map((i) => i.text) ?? [];
    expect(texts).toContain('Your open requests');
    expect(texts).not.toContain('Waiting for your decision');
    const forMallory = await approvalsCommand.run(parsedArgs(), commandContext(mallory, deps, 'approvals'));
    expect(forMallory.reply?.items).toBeUndefined();
  });

  it('approves and denies by typed id, with the rest of the words as the reason', async () => {
    const one = await open();
    const approved = await approveCommand.run(
      parsedArgs([String(one.id), 'looks', 'fine']),
      commandContext(bob, deps),
    );
    expect(approved.reply?.text).toBe(`You approved request #${one.id}; it is now approved.`);
    expect((await listApprovalDecisions(db.current.sql, one.id))[0]!.comment).toBe('looks fine');

    const two = await open();
    await denyCommand.run(parsedArgs([`#${two.id}`], { reason: 'no ticket' }), commandContext(bob, deps));
    const after = (await getApprovalRequest(db.current.sql, two.id))!;
    expect(after.status).toBe('denied');
    expect(after.decidedReason).toBe('no ticket');
  });

  it('refuses a typed decision without an id, and one on an unknown id', async () => {
    await expect(approveCommand.run(parsedArgs(), commandContext(bob, deps))).rejects.toBeInstanceOf(
      AppError,
    );
    await expect(approveCommand.run(parsedArgs(['$(id)']), commandContext(bob, deps))).rejects.toMatchObject({
      code: 'bad_request',
    });
  });

  it('lets the requester cancel by typed id', async () => {
    const request = await open();
    const result = await cancelApprovalCommand.run(
      parsedArgs([String(request.id)]),
      commandContext(alice, deps),
    );
    expect(result.reply?.text).toBe(`You cancelled request #${request.id}.`);
    expect((await getApprovalRequest(db.current.sql, request.id))!.status).toBe('cancelled');
  });
});
