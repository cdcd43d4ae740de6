import { generateKeyPairSync } from 'node:crypto';
import type { Hono } from 'hono';
import sshpk from 'sshpk';
import { beforeAll, describe, expect, it } from 'vitest';
import { bearer, tokenFor } from '../../bot/api/testing.js';
import { createApp } from '../../bot/app.js';
import type { InteractionResult } from '../../bot/chat/model.js';
import type { AppEnv } from '../../bot/http/context.js';
import { AppError } from '../../lib/errors.js';
import { withTx } from '../../storage/db.js';
import { insertServer } from '../../storage/inventory.js';
import { listHandovers, listUserPublicKeys } from '../../storage/keys.js';
import { addIdentity } from '../../storage/users.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { commandContext, createActor, createProjectRow, uniqueHandle } from '../approvals/testing.js';
import { createRegistry } from '../index.js';
import type { Actor } from '../rbac/authorize.js';
import { handleInteraction } from '../router.js';
import { handoverKey } from './handover.js';
import { addUserKey, registerKey } from './register.js';
import { createServiceKey, generateEd25519 } from './service.js';
import { keysStatus } from './status.js';
import { syncServiceKeys } from './sync.js';

const db = useTestDatabase('keys_registry');
const registry = createRegistry();

function newPublicKey(comment = 'me@laptop'): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const key = sshpk.parseKey(publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'pem');
  key.comment = comment;
  return key.toString('ssh');
}

let deps: TestDeps;
let admin: Actor;
let alice: Actor;
let bob: Actor;
let auditor: Actor;
let outsider: Actor;
let project: { id: number; slug: string };

async function say(actor: Actor, text: string): Promise<InteractionResult> {
  const ctx = commandContext(actor, deps, text);
  return handleInteraction(ctx.interaction, deps, registry);
}

beforeAll(async () => {
  const { sql } = db.current;
  deps = createTestDeps(sql);
  project = await createProjectRow(sql, uniqueHandle('keys'), { keys: { rotateEvery: '2d' } });
  admin = await createActor(sql, uniqueHandle('admin'), [['admin', null]]);
  alice = await createActor(sql, uniqueHandle('alice'), [['operator', project.id]]);
  bob = await createActor(sql, uniqueHandle('bob'), [['contractor', project.id]]);
  auditor = await createActor(sql, uniqueHandle('aud'), [['auditor', project.id]]);
  outsider = await createActor(sql, uniqueHandle('out'), []);
  for (const a of [admin, alice, bob, auditor, outsider]) {
    await addIdentity(sql, { userId: a.user.id, platform: 'console', externalId: a.user.handle });
  }
});

describe('the key registry', () => {
  it('registers the caller’s key from chat and hands it to the access half through listUserPublicKeys', async () => {
    const line = newPublicKey('bob@laptop');
    const result = await say(bob, `keys add ${line}`);
    expect(result.reply?.tone).toBe('success');
    const keys = await listUserPublicKeys(db.current.sql, bob.user.id);
    expect(keys).toEqual([
      {
        id: expect.any(Number),
        fingerprint: sshpk.parseKey(line, 'ssh').fingerprint('sha256').toString(),
        publicKey: line,
        type: 'ssh-ed25519',
        createdAt: deps.clock.now(),
      },
    ]);
    expect(result.reply?.fields).toContainEqual({ label: 'Owner', value: `@${bob.user.handle}` });
  });

  it('gives a key exactly one owner: a second registration is refused without naming the owner', async () => {
    const line = newPublicKey();
    await addUserKey(deps, alice, { publicKey: line });
    await expect(addUserKey(deps, alice, { publicKey: line })).rejects.toThrow(/already registered to you/);
    const other = await addUserKey(deps, outsider, { publicKey: line }).catch((e: unknown) => e as AppError);
    expect(other).toBeInstanceOf(AppError);
    expect((other as AppError).code).toBe('conflict');
    expect((other as AppError).message).toMatch(/already registered to someone else/);
    expect((other as AppError).message).not.toContain(alice.user.handle);
  });

  it('explains a pasted private key and removes it from the recorded interaction', async () => {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const result = await say(alice, `keys add ${pem}`);
    expect(result.reply?.tone).toBe('error');
    expect(result.reply?.text).toMatch(
      /^that is a PRIVATE key; never paste it anywhere, send the \.pub file/,
    );
    const body = pem.split('\n')[1]!;
    const stored = await db.current.sql<{ n: number }[]>`
      select count(*)::int as n from interactions where body::text like ${`%${body.slice(0, 30)}%`}`;
    expect(stored[0]!.n).toBe(0);
  });

  it('refuses hostile text in keys add with a clear message and stores nothing', async () => {
    const before = (await listUserPublicKeys(db.current.sql, outsider.user.id)).length;
    for (const text of ['keys add ; rm -rf /', 'keys add $(reboot)', `keys add ${newPublicKey()} $(id)`]) {
      const result = await say(outsider, text);
      expect(result.reply?.tone).toBe('error');
      expect(result.reply?.text).not.toMatch(/went wrong on our side/);
    }
    expect(await listUserPublicKeys(db.current.sql, outsider.user.id)).toHaveLength(before);
  });

  it('keys status shows own keys to everyone and service keys to keys:read holders on the project, overdue marked', async () => {
    const { sql } = db.current;
    const serverId = await insertServer(
      sql,
      {
        name: uniqueHandle('web'),
        projectId: project.id,
        accountId: null,
        provider: 'ssh',
        providerId: null,
        address: '10.0.0.5',
        port: 22,
        os: {},
        tags: {},
        ownerId: null,
        connection: { user: 'warden' },
      },
      deps.clock.now(),
    );
    const { key } = await withTx(sql, (tx) =>
      createServiceKey(tx, deps, {
        secretName: `ssh-key:${uniqueHandle('web')}`,
        ownerId: admin.user.id,
        purpose: 'warden service key for web',
        projectId: project.id,
        placements: [{ serverId, login: 'warden' }],
        actor: 'system',
      }),
    );
    deps.clock.advance(3 * 86_400_000);

    const seenByAuditor = await keysStatus(deps, auditor);
    const row = seenByAuditor.find((k) => k.id === key.id)!;
    expect(row).toMatchObject({
      kind: 'service',
      owner: admin.user.handle,
      overdue: true,
      rotationPolicy: `every 2d (project ${project.slug})`,
      installedOn: [expect.objectContaining({ login: 'warden' })],
    });
    expect(row.overdueByMs).toBe(86_400_000);
    expect((await keysStatus(deps, bob)).map((k) => k.id)).not.toContain(key.id);
    expect((await keysStatus(deps, outsider)).every((k) => k.owner === outsider.user.handle)).toBe(true);

    const chat = await say(alice, 'keys status');
    const item = chat.reply?.items?.find((i) => i.text.startsWith(key.fingerprint));
    expect(item?.text).toBe(`${key.fingerprint} · service · owner @${admin.user.handle} · ${project.slug}`);
    expect(item?.detail).toMatch(
      /on warden@web-.* · created 3d ago · never seen used · ⚠ ROTATION OVERDUE by 24h/,
    );
    expect(chat.reply?.context?.[0]).toMatch(/1 overdue for rotation/);
  });

  it('moves ownership only by an audited handover that needs keys:manage', async () => {
    const line = newPublicKey('shared@ci');
    const key = await addUserKey(deps, alice, { publicKey: line });
    await expect(
      handoverKey(deps, alice, { fingerprint: key.fingerprint, to: bob.user.handle }),
    ).rejects.toMatchObject({
      code: 'forbidden',
    });
    const refused = await say(alice, `keys handover ${key.fingerprint} to ${bob.user.handle}`);
    expect(refused.reply?.tone).toBe('error');

    const result = await say(
      admin,
      `keys handover ${key.fingerprint.slice(0, 20)} to @${bob.user.handle} reason "alice left the team"`,
    );
    expect(result.reply?.text).toContain(`now belongs to @${bob.user.handle}`);
    const [handover] = await listHandovers(db.current.sql, key.id);
    expect(handover).toMatchObject({
      fromHandle: alice.user.handle,
      toHandle: bob.user.handle,
      byHandle: admin.user.handle,
      reason: 'alice left the team',
    });
    const [event] = await db.current.sql<{ actor: string; data: Record<string, unknown> }[]>`
      select actor, data from audit_events where action = 'key.handed-over' and subject_id = ${String(key.id)}`;
    expect(event).toMatchObject({
      actor: `user:${admin.user.handle}`,
      data: { from: alice.user.handle, to: bob.user.handle },
    });
    const dms = await db.current.sql<{ userId: number }[]>`
      select (payload ->> 'userId')::int as "userId" from outbox where kind = 'direct' and payload -> 'reply' ->> 'text' like ${`%${key.fingerprint}%`}`;
    expect(dms.map((d) => d.userId).sort()).toEqual([alice.user.id, bob.user.id].sort());
    expect((await listUserPublicKeys(db.current.sql, alice.user.id)).map((k) => k.id)).not.toContain(key.id);
    expect((await listUserPublicKeys(db.current.sql, bob.user.id)).map((k) => k.id)).toContain(key.id);
  });

  it('registers the CA through registerKey for the access half, and refuses a second copy', async () => {
    const ca = newPublicKey('warden-ca');
    const secret = await db.current.sql<{ id: number }[]>`
      insert into secrets (name, purpose, owner_id, sealed) values (${uniqueHandle('ssh-ca')}, 'ca', ${admin.user.id}, 'v1.x')
      returning id`;
    const key = await withTx(db.current.sql, (tx) =>
      registerKey(tx, deps, {
        kind: 'ca',
        ownerId: admin.user.id,
        purpose: 'SSH user CA',
        publicKey: ca,
        secretId: secret[0]!.id,
        projectId: project.id,
        actor: 'system',
      }),
    );
    expect(key).toMatchObject({ kind: 'ca', ownerHandle: admin.user.handle, projectSlug: project.slug });
    await expect(
      withTx(db.current.sql, (tx) =>
        registerKey(tx, deps, {
          kind: 'user',
          ownerId: bob.user.id,
          purpose: 'mine',
          publicKey: ca,
          actor: 'system',
        }),
      ),
    ).rejects.toMatchObject({ code: 'conflict' });
  });

  it('lets the owner retire a key and add it back', async () => {
    const line = newPublicKey();
    const key = await addUserKey(deps, outsider, { publicKey: line });
    const removed = await say(outsider, `keys remove ${key.fingerprint}`);
    expect(removed.reply?.text).toContain('is retired');
    expect((await listUserPublicKeys(db.current.sql, outsider.user.id)).map((k) => k.id)).not.toContain(
      key.id,
    );
    const again = await addUserKey(deps, outsider, { publicKey: line });
    expect(again.id).toBe(key.id);
  });
});

describe('service keys of the scanning core', () => {
  it('registers every ssh-key:<server|account|default> secret in use, with an owner and its placements, once', async () => {
    const { sql } = db.current;
    const name = uniqueHandle('db');
    const other = uniqueHandle('cache');
    for (const [server, user] of [
      [name, 'patchbot'],
      [other, null],
    ] as const) {
      await insertServer(
        sql,
        {
          name: server,
          projectId: project.id,
          accountId: null,
          provider: 'ssh',
          providerId: null,
          address: '10.0.0.9',
          port: 22,
          os: {},
          tags: {},
          ownerId: null,
          connection: user ? { user } : {},
        },
        deps.clock.now(),
      );
    }
    const own = generateEd25519('x');
    const fallback = generateEd25519('y');
    await sql`insert into secrets (name, purpose, owner_id, sealed)
              values (${`ssh-key:${name}`}, 'ssh', ${alice.user.id}, ${deps.vault.seal(own.privateKey, `ssh-key:${name}`)})`;
    await sql`insert into secrets (name, purpose, sealed)
              values ('ssh-key:default', 'ssh', ${deps.vault.seal(fallback.privateKey, 'ssh-key:default')})`;

    const first = await syncServiceKeys(deps, { actor: 'job:keys-rotate' });
    expect(first.problems).toEqual([]);
    expect(first.adopted).toBe(2);
    const status = await keysStatus(deps, admin);
    expect(status.find((k) => k.fingerprint === own.fingerprint)).toMatchObject({
      kind: 'service',
      owner: alice.user.handle,
      installedOn: [expect.objectContaining({ server: name, login: 'patchbot' })],
    });
    const shared = status.find((k) => k.fingerprint === fallback.fingerprint)!;
    expect(shared.owner).toBe(admin.user.handle);
    expect(shared.installedOn.map((i) => `${i.login}@${i.server}`)).toContain(`warden@${other}`);
    expect(shared.installedOn.map((i) => i.server)).not.toContain(name);

    expect(await syncServiceKeys(deps, { actor: 'job:keys-rotate' })).toEqual({
      adopted: 0,
      placed: 0,
      problems: [],
    });
  });
});

describe('the keys API', () => {
  let app: Hono<AppEnv>;
  let token: string;
  beforeAll(async () => {
    app = createApp({ deps });
    token = await tokenFor(deps, bob.user, ['access:request']);
  });

  it('POST /api/v1/keys registers the caller’s key and GET lists it; bad keys are a 400 that says why', async () => {
    const line = newPublicKey('api@host');
    const created = await app.request('/api/v1/keys', {
      method: 'POST',
      headers: bearer(token, { 'content-type': 'application/json' }),
      body: JSON.stringify({ publicKey: line }),
    });
    expect(created.status).toBe(201);
    const body = (await created.json()) as { fingerprint: string; owner: string; kind: string };
    expect(body).toMatchObject({ owner: bob.user.handle, kind: 'user' });

    const listed = (await (await app.request('/api/v1/keys', { headers: bearer(token) })).json()) as {
      items: { fingerprint: string }[];
    };
    expect(listed.items.map((k) => k.fingerprint)).toContain(body.fingerprint);

    const bad = await app.request('/api/v1/keys', {
      method: 'POST',
      headers: bearer(token, { 'content-type': 'application/json' }),
      body: JSON.stringify({ publicKey: 'ssh-dss AAAAB3NzaC1kc3MAAACBAP' }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(
      /DSA keys are refused/,
    );
  });
});
