import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createVault, sha256Hex } from '../lib/crypto.js';
import { seed } from '../storage/seed.js';
import { useTestDatabase } from '../test/db.js';
import { createTestDeps } from '../test/deps.js';
import { auditVerify, type CliIo, rewrapSecrets, tokenCreate } from './cli.js';

const db = useTestDatabase('cli');

function io() {
  const out: string[] = [];
  const err: string[] = [];
  const sink: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l) };
  return { out, err, sink };
}

const key = () => randomBytes(32).toString('base64');
const oldKey = key();
const newKey = key();

beforeAll(async () => {
  await seed(db.current.sql, createTestDeps(db.current.sql), { admins: [], demo: true });
});

describe('warden token create', () => {
  it('prints the token once on stdout and stores only its hash', async () => {
    const deps = createTestDeps(db.current.sql);
    const o = io();
    const code = await tokenCreate(
      deps,
      { user: 'bob', name: 'ci', scopes: 'inventory:read, audit:read', project: 'demo', expires: '30d' },
      o.sink,
    );
    expect(code).toBe(0);
    expect(o.out).toHaveLength(1);
    const token = o.out[0]!;
    expect(token).toMatch(/^wdn_[A-Za-z0-9_-]{43}$/);
    expect(o.err.join('\n')).toContain('it is not shown again');
    const [row] = await db.current.sql<{ scopes: string[]; expires: boolean }[]>`
      select scopes, expires_at = ${new Date(deps.clock.now().getTime() + 30 * 86_400_000)} as expires
      from api_tokens where token_hash = ${sha256Hex(token)}`;
    expect(row).toEqual({ scopes: ['inventory:read', 'audit:read'], expires: true });
    const [leak] = await db.current
      .sql`select 1 from api_tokens where token_hash = ${token} or prefix = ${token}`;
    expect(leak).toBeUndefined();
  });

  it('will not give a token a permission its user does not hold', async () => {
    const o = io();
    await expect(
      tokenCreate(
        createTestDeps(db.current.sql),
        { user: 'alice', name: 'x', scopes: 'users:manage' },
        o.sink,
      ),
    ).rejects.toThrow(/you cannot give a token users:manage/);
    expect(o.out).toEqual([]);
  });

  it('names a user that does not exist, even a hostile one, and creates nothing', async () => {
    const before = await db.current.sql`select id from api_tokens`;
    await expect(
      tokenCreate(
        createTestDeps(db.current.sql),
        { user: '"; drop table users; --', name: 'x', scopes: 'inventory:read' },
        io().sink,
      ),
    ).rejects.toThrow(/there is no user ""; drop table users; --"/);
    await expect(
      tokenCreate(
        createTestDeps(db.current.sql),
        { user: 'bob', name: 'x\nInjected: yes', scopes: 'inventory:read' },
        io().sink,
      ),
    ).rejects.toThrow(/control characters/);
    expect(await db.current.sql`select id from api_tokens`).toHaveLength(before.length);
  });
});

describe('warden secrets rewrap', () => {
  it('re-wraps every secret and account credential under the new key, so the old key can go', async () => {
    const old = createVault(oldKey);
    const sql = db.current.sql;
    await sql`insert into secrets (name, purpose, sealed) values ('ca', 'ssh-ca', ${old.seal('ca-private', 'ca')}),
      ('hook', 'webhook', ${old.seal('hook-secret', 'hook')})`;
    await sql`insert into accounts (name, provider, sealed_credentials) values ('dc1', 'ssh', ${old.seal('creds', 'dc1')})`;

    const vault = createVault(newKey, [oldKey]);
    const result = await rewrapSecrets(createTestDeps(sql, { vault }));
    expect(result).toEqual({ total: 3, rewrapped: 3, keyId: vault.keyId });

    const onlyNew = createVault(newKey);
    const [ca] = await sql<{ sealed: string }[]>`select sealed from secrets where name = 'ca'`;
    expect(onlyNew.openText(ca!.sealed, 'ca')).toBe('ca-private');
    const [acct] = await sql<
      { sealed: string }[]
    >`select sealed_credentials as sealed from accounts where name = 'dc1'`;
    expect(onlyNew.openText(acct!.sealed, 'dc1')).toBe('creds');

    const [event] = await sql<{ action: string; data: Record<string, unknown> }[]>`
      select action, data from audit_events order by seq desc limit 1`;
    expect(event).toEqual({
      action: 'secrets.rewrapped',
      data: { keyId: vault.keyId, rewrapped: 3, total: 3, via: 'cli' },
    });
    // Run again: nothing left to do, nothing recorded.
    expect(await rewrapSecrets(createTestDeps(sql, { vault }))).toEqual({
      total: 3,
      rewrapped: 0,
      keyId: vault.keyId,
    });
  });

  it('changes nothing when one secret was sealed by a key it was not given, and names that key', async () => {
    const sql = db.current.sql;
    const stranger = createVault(key());
    await sql`insert into secrets (name, purpose, sealed) values ('orphan', 'test', ${stranger.seal('x')})`;
    const before = await sql`select name, sealed from secrets order by name`;
    const vault = createVault(key(), [newKey]);
    await expect(rewrapSecrets(createTestDeps(sql, { vault }))).rejects.toThrow(
      new RegExp(
        `cannot re-wrap secrets "orphan" \\(nothing was changed\\): .*master key ${stranger.keyId}, which is not configured; add it to WARDEN_MASTER_KEY_PREVIOUS`,
      ),
    );
    expect(await sql`select name, sealed from secrets order by name`).toEqual(before);
  });
});

describe('warden audit verify', () => {
  it('reports how many events it verified on a sound trail', async () => {
    const o = io();
    const [head] = await db.current.sql<{ seq: number }[]>`select seq from audit_head`;
    expect(head!.seq).toBeGreaterThan(0);
    expect(await auditVerify({ sql: db.current.sql }, o.sink)).toBe(0);
    expect(o.out).toEqual([`ok: ${head!.seq} events verified`]);
  });

  it('names the first broken event and exits 1 when an event was slipped in behind the trail', async () => {
    const sql = db.current.sql;
    const [head] = await sql<{ seq: number; hash: string }[]>`select seq, hash from audit_head`;
    await sql`insert into audit_events (seq, at, actor, action, prev_hash, hash)
      values (${head!.seq + 1}, now(), 'user:mallory', 'user.created', ${head!.hash}, ${'f'.repeat(64)})`;
    const o = io();
    expect(await auditVerify({ sql }, o.sink)).toBe(1);
    expect(o.out).toHaveLength(1);
    expect(o.out[0]).toMatch(new RegExp(`^broken: event ${head!.seq + 1} \\(`));
  });
});
