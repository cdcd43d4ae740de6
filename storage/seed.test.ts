import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../test/db.js';
import { createTestDeps } from '../test/deps.js';
import { handleFromEmail, seed } from './seed.js';
import { findUserByIdentity, getUserByEmail, getUserByHandle, listBindings } from './users.js';

const db = useTestDatabase('seed');

async function auditCount(): Promise<number> {
  const [row] = await db.current.sql<{ n: number }[]>`select count(*)::int as n from audit_events`;
  return row!.n;
}

describe('seed', () => {
  it('makes each WARDEN_ADMINS address a global admin with a verified e-mail identity', async () => {
    const deps = createTestDeps(db.current.sql);
    const result = await seed(db.current.sql, deps, {
      admins: ['Ops.Lead@Example.com', 'jane+oncall@example.org'],
      demo: false,
    });
    expect(result).toEqual({ createdAdmins: ['ops.lead', 'jane-oncall'], demoCreated: false });

    const lead = await getUserByEmail(db.current.sql, 'ops.lead@example.com');
    expect(lead?.handle).toBe('ops.lead');
    expect(await listBindings(db.current.sql, lead!.id)).toEqual([
      { userId: lead!.id, role: 'admin', projectId: null },
    ]);
    const viaEmail = await findUserByIdentity(db.current.sql, 'email', 'ops.lead@example.com');
    expect(viaEmail?.id).toBe(lead!.id);
    const [identity] = await db.current.sql<{ verified: boolean }[]>`
      select verified_at is not null as verified from identities where external_id = 'ops.lead@example.com'`;
    expect(identity!.verified).toBe(true);
  });

  it('is idempotent: a second boot (or a second replica) creates nothing and writes no audit event', async () => {
    const deps = createTestDeps(db.current.sql);
    const options = { admins: ['ops.lead@example.com', 'jane+oncall@example.org'], demo: false };
    const before = await auditCount();
    const [a, b] = await Promise.all([
      seed(db.current.sql, deps, options),
      seed(db.current.connectAgain(2), deps, options),
    ]);
    expect(a.createdAdmins).toEqual([]);
    expect(b.createdAdmins).toEqual([]);
    expect(await auditCount()).toBe(before);
  });

  it('gives an admin whose local part is taken a unique handle', async () => {
    const deps = createTestDeps(db.current.sql);
    const result = await seed(db.current.sql, deps, { admins: ['ops.lead@other.example'], demo: false });
    expect(result.createdAdmins).toEqual(['ops.lead-2']);
  });

  it('derives a valid handle from hostile or odd local parts', async () => {
    const sql = db.current.sql;
    expect(await handleFromEmail(sql, '"; rm -rf /"@example.com')).toBe('rm--rf');
    expect(await handleFromEmail(sql, '$(reboot)@example.com')).toBe('reboot');
    expect(await handleFromEmail(sql, 'zoë@example.com')).toBe('zo');
    expect(await handleFromEmail(sql, '---@example.com')).toBe('admin');
    expect(await handleFromEmail(sql, `${'a'.repeat(80)}@example.com`)).toHaveLength(56);
  });

  it('seeds the demo: project demo, alice the operator, bob the approver and admin, and localhost', async () => {
    const sql = db.current.sql;
    const deps = createTestDeps(sql);
    const before = await auditCount();
    const result = await seed(sql, deps, { admins: [], demo: true });
    expect(result.demoCreated).toBe(true);

    const [project] = await sql<{ id: number; channels: Record<string, string> }[]>`
      select id, channels from projects where slug = 'demo'`;
    expect(project!.channels).toEqual({ console: 'demo' });

    const alice = await findUserByIdentity(sql, 'console', 'alice');
    const bob = await findUserByIdentity(sql, 'console', 'bob');
    expect(alice?.handle).toBe('alice');
    expect(bob?.handle).toBe('bob');
    expect(await listBindings(sql, alice!.id)).toEqual([
      { userId: alice!.id, role: 'operator', projectId: project!.id },
    ]);
    expect(await listBindings(sql, bob!.id)).toEqual([
      { userId: bob!.id, role: 'admin', projectId: null },
      { userId: bob!.id, role: 'approver', projectId: project!.id },
    ]);

    const [server] = await sql<{ provider: string; projectId: number; ownerId: number }[]>`
      select provider, project_id as "projectId", owner_id as "ownerId" from servers where name = 'localhost'`;
    expect(server).toEqual({ provider: 'local', projectId: project!.id, ownerId: bob!.id });

    const actions = await sql<{ action: string; actor: string }[]>`
      select action, actor from audit_events where seq > ${before} order by seq`;
    expect(actions.map((a) => a.action)).toEqual([
      'project.created',
      'user.created',
      'user.created',
      'role.granted',
      'role.granted',
      'role.granted',
      'server.created',
    ]);
    expect(new Set(actions.map((a) => a.actor))).toEqual(new Set(['system']));
  });

  it('seeds the demo only once, so a restart keeps what the user changed', async () => {
    const sql = db.current.sql;
    const alice = await getUserByHandle(sql, 'alice');
    await sql`delete from role_bindings where user_id = ${alice!.id}`;
    const before = await auditCount();
    const result = await seed(sql, createTestDeps(sql), { admins: [], demo: true });
    expect(result.demoCreated).toBe(false);
    expect(await listBindings(sql, alice!.id)).toEqual([]);
    expect(await auditCount()).toBe(before);
  });
});
