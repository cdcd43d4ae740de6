import { beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../lib/errors.js';
import { getApprovalRequest } from '../../storage/approvals.js';
import { addIdentity } from '../../storage/users.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { approvalAction } from '../approvals/actions.js';
import { decide } from '../approvals/engine.js';
import { createApprovalSubjects } from '../approvals/subjects.js';
import {
  click,
  commandContext,
  createActor,
  createProjectRow,
  parsedArgs,
  uniqueHandle,
} from '../approvals/testing.js';
import { createRegistry } from '../index.js';
import { type Actor, can, loadActor } from '../rbac/authorize.js';
import { handleInteraction } from '../router.js';
import { rolesCommand } from './list.js';
import { roleRequestCommand } from './request.js';

const db = useTestDatabase('role_requests');

let deps: TestDeps;
let demo: { id: number; slug: string };
let admin: Actor;
let projectAdmin: Actor;

beforeAll(async () => {
  const { sql } = db.current;
  deps = createTestDeps(sql, { approvalSubjects: createApprovalSubjects() });
  demo = await createProjectRow(sql, uniqueHandle('demo'));
  admin = await createActor(sql, uniqueHandle('bob'), [['admin', null]]);
  projectAdmin = await createActor(sql, uniqueHandle('pa'), [['admin', demo.id]]);
});

async function request(actor: Actor, role: string, project: string, reason?: string) {
  const keywords: Record<string, string> = { on: project };
  if (reason !== undefined) keywords.reason = reason;
  return roleRequestCommand.run(parsedArgs([role], keywords), commandContext(actor, deps));
}

function requestIdFrom(text: string | undefined): number {
  const match = /Request #(\d+)/.exec(text ?? '');
  expect(match).not.toBeNull();
  return Number(match![1]);
}

async function refusal(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe('role requests', () => {
  it('binds the role when a user admin approves, in the same transaction and on the trail', async () => {
    const alice = await createActor(db.current.sql, uniqueHandle('alice'), [['operator', demo.id]]);
    const opened = await request(alice, 'Approver', demo.slug, 'on call this week');
    expect(opened.reply?.visibility).toBe('private');
    expect(opened.reply?.text).toContain(admin.user.handle);
    const id = requestIdFrom(opened.reply?.text);
    const pending = (await getApprovalRequest(db.current.sql, id))!;
    expect(pending).toMatchObject({
      subjectType: 'role-request',
      permission: 'users:manage',
      projectId: demo.id,
    });
    expect(can(await loadActor(db.current.sql, alice.user, 'console'), 'access:approve', demo.id)).toBe(
      false,
    );

    const clicked = await approvalAction.run(
      click(admin, deps, 'approval.approve', String(id)),
      commandContext(admin, deps),
    );
    expect(clicked.replaceOriginal?.text).toContain('Approved');

    const reloaded = await loadActor(db.current.sql, alice.user, 'console');
    expect(reloaded.bindings).toContainEqual({ userId: alice.user.id, role: 'approver', projectId: demo.id });
    expect(can(reloaded, 'access:approve', demo.id)).toBe(true);
    const [granted] = await db.current.sql<{ granted_by: number }[]>`
      select granted_by from role_bindings where user_id = ${alice.user.id} and role = 'approver'`;
    expect(granted!.granted_by).toBe(admin.user.id);
    const trail = await db.current.sql<{ action: string; actor: string }[]>`
      select action, actor from audit_events
      where (subject_type = 'approval' and subject_id = ${String(id)})
         or (action = 'role.bound' and subject_id = ${String(alice.user.id)})
      order by seq`;
    expect(trail.map((t) => t.action)).toEqual([
      'approval.requested',
      'approval.approved-by',
      'approval.approved',
      'role.bound',
    ]);
    expect(trail[3]!.actor).toBe(`user:${admin.user.handle}`);
  });

  it('binds nothing when the request is denied', async () => {
    const carl = await createActor(db.current.sql, uniqueHandle('carl'), []);
    const id = requestIdFrom((await request(carl, 'operator', demo.slug, 'need to run scans')).reply?.text);
    await decide(deps, { actor: admin, requestId: id, decision: 'deny', comment: 'ask your lead first' });
    const rows = await db.current.sql`select 1 from role_bindings where user_id = ${carl.user.id}`;
    expect(rows).toHaveLength(0);
  });

  it('needs a global user admin: an admin of the project alone may not approve', async () => {
    const dana = await createActor(db.current.sql, uniqueHandle('dana'), []);
    const id = requestIdFrom((await request(dana, 'auditor', demo.slug, 'quarterly audit')).reply?.text);
    const error = await refusal(decide(deps, { actor: projectAdmin, requestId: id, decision: 'approve' }));
    expect(error.code).toBe('forbidden');
    expect((await getApprovalRequest(db.current.sql, id))!.status).toBe('pending');
  });

  it('refuses a second request for the same role while the first is pending', async () => {
    const erin = await createActor(db.current.sql, uniqueHandle('erin'), []);
    const first = requestIdFrom((await request(erin, 'operator', demo.slug, 'patching duty')).reply?.text);
    const error = await refusal(request(erin, 'operator', demo.slug, 'patching duty, again'));
    expect(error.code).toBe('conflict');
    expect(error.message).toContain(`#${first}`);
  });

  it('refuses a role the requester already holds there or everywhere', async () => {
    const gil = await createActor(db.current.sql, uniqueHandle('gil'), [['operator', null]]);
    const error = await refusal(request(gil, 'operator', demo.slug, 'just in case'));
    expect(error.code).toBe('conflict');
    expect(error.message).toContain('already hold operator on every project');
  });

  it.each([
    [
      'an unknown role, suggesting the closest',
      ['admn', 'demo', 'because'],
      'bad_request',
      'Did you mean admin?',
    ],
    ['a missing reason', ['operator', 'demo', undefined], 'bad_request', 'say why you need the role'],
    ['a reason that is too short', ['operator', 'demo', ' x '], 'bad_request', 'say why'],
    [
      'a reason that is too long',
      ['operator', 'demo', 'y'.repeat(501)],
      'bad_request',
      'under 500 characters',
    ],
    ['an unknown project', ['operator', 'nowhere', 'because'], 'not_found', 'no project "nowhere"'],
    ['a hostile project name', ['operator', '; rm -rf /', 'because'], 'not_found', 'no project "; rm -rf /"'],
    ['a command substitution', ['operator', '$(reboot)', 'because'], 'not_found', 'no project'],
    ['a unicode look-alike', ['operator', 'dеmo', 'because'], 'not_found', 'no project'],
    ['a hostile role', ['$(reboot)\nadmin', 'demo', 'because'], 'bad_request', 'is not a role'],
  ] as const)('refuses %s with a clear message', async (_label, [role, project, reason], code, text) => {
    const hal = await createActor(db.current.sql, uniqueHandle('hal'), []);
    const target = project === 'demo' ? demo.slug : project;
    const before = await db.current.sql`select id from approval_requests`;
    const error = await refusal(request(hal, role, target, reason));
    expect(error.code).toBe(code);
    expect(error.message).toContain(text);
    expect(await db.current.sql`select id from approval_requests`).toHaveLength(before.length);
  });

  it('refuses a request without a project', async () => {
    const ivy = await createActor(db.current.sql, uniqueHandle('ivy'), []);
    const error = await refusal(
      roleRequestCommand.run(parsedArgs(['operator'], { reason: 'x y z' }), commandContext(ivy, deps)),
    );
    expect(error.message).toContain('on which project');
  });
});

describe('role requests through the chat router', () => {
  it('opens from typed words with a quoted reason and is approved by a click', async () => {
    const { sql } = db.current;
    const registry = createRegistry();
    const lee = await createActor(sql, uniqueHandle('lee'), []);
    for (const a of [lee, admin]) {
      await addIdentity(sql, { userId: a.user.id, platform: 'console', externalId: a.user.handle });
    }
    const typed = await handleInteraction(
      {
        kind: 'command',
        text: `role request operator on ${demo.slug} reason "scan the new hosts; $(not a shell)"`,
        dedupeKey: uniqueHandle('k'),
        user: { platform: 'console', externalId: lee.user.handle },
        channel: 'test',
        receivedAt: deps.clock.now(),
      },
      deps,
      registry,
    );
    expect(typed.reply?.tone).toBe('success');
    const id = requestIdFrom(typed.reply?.text);
    const pending = (await getApprovalRequest(sql, id))!;
    expect(pending.details.fields).toContainEqual({
      label: 'Reason',
      value: 'scan the new hosts; $(not a shell)',
    });

    const clicked = await handleInteraction(
      { ...click(admin, deps, 'approval.approve', String(id)), dedupeKey: uniqueHandle('k') },
      deps,
      registry,
    );
    expect(clicked.replaceOriginal?.text).toContain('Approved');
    const bound = await sql`select 1 from role_bindings where user_id = ${lee.user.id} and role = 'operator'`;
    expect(bound).toHaveLength(1);
  });
});

describe('roles', () => {
  it('lists my bindings with where they hold', async () => {
    const jo = await createActor(db.current.sql, uniqueHandle('jo'), [
      ['auditor', null],
      ['operator', demo.id],
    ]);
    const result = await rolesCommand.run(parsedArgs(), commandContext(jo, deps));
    expect(result.reply?.items?.map((i) => i.text)).toEqual([
      'auditor on every project',
      `operator on ${demo.slug}`,
    ]);
  });

  it('says how to ask when I have none', async () => {
    const kim = await createActor(db.current.sql, uniqueHandle('kim'), []);
    const result = await rolesCommand.run(parsedArgs(), commandContext(kim, deps));
    expect(result.reply?.header).toBe('You have no roles yet');
    expect(result.reply?.context?.[0]).toContain('role request');
  });
});
