import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { withTx } from '../../storage/db.js';
import type { Server } from '../../storage/inventory.js';
import { claimRotation, getRunningRotation, listRotations } from '../../storage/key-rotations.js';
import { getKey, listLiveInstallations, listLiveServiceKeys } from '../../storage/keys.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { type SshdHandle, sshdUnavailableReason, startSshd } from '../../test/sshd.js';
import { createActor, createProjectRow, uniqueHandle } from '../approvals/testing.js';
import type { Actor } from '../rbac/authorize.js';
import { unsealServiceKey } from './connect.js';
import { rotateServiceKey } from './rotate.js';
import { findDueServiceKeys, ROTATION_STALE_MS, recoverStaleRotations, rotateDueKeys } from './rotate-due.js';
import { generateEd25519 } from './service.js';
import {
  installServiceKey,
  readAuthorizedKeys,
  sshdServer,
  tryLogin,
  writeAuthorizedKeys,
} from './testing.js';

const reason = sshdUnavailableReason();
if (reason) console.warn(`key rotation tests skipped: ${reason}`);

const LOGIN = 'wkrotate';
const db = useTestDatabase('keys_rotate');

describe.skipIf(Boolean(reason))('service key rotation against a real sshd', () => {
  let sshd: SshdHandle;
  let deps: TestDeps;
  let owner: Actor;
  let project: { id: number; slug: string };
  let server: Server;
  let counter = 0;

  beforeAll(async () => {
    sshd = await startSshd({ users: [LOGIN] });
    deps = createTestDeps(db.current.sql);
    owner = await createActor(db.current.sql, uniqueHandle('keeper'), [['admin', null]]);
    project = await createProjectRow(db.current.sql, uniqueHandle('rot'), { keys: { rotateEvery: '12h' } });
    server = await sshdServer(db.current.sql, sshd, {
      name: uniqueHandle('rot-srv'),
      login: LOGIN,
      projectId: project.id,
    });
  });
  afterAll(async () => {
    await sshd?.stop();
  });

  /** Every test starts from one service key, installed by hand, that is the only line in the file. */
  async function freshServiceKey() {
    counter += 1;
    for (const k of await listLiveServiceKeys(db.current.sql)) {
      await db.current
        .sql`update keys set retired_at = ${deps.clock.now()}, retired_reason = 'test reset' where id = ${k.id}`;
    }
    writeAuthorizedKeys(LOGIN, []);
    return installServiceKey(deps, {
      server,
      login: LOGIN,
      ownerId: owner.user.id,
      secretName: `ssh-key:rot-${process.pid}-${counter}`,
      projectId: project.id,
    });
  }

  async function securityAlerts(): Promise<{ text: string }[]> {
    return db.current.sql<{ text: string }[]>`
      select payload -> 'reply' ->> 'text' as text from outbox
      where kind = 'channel-post' and payload ->> 'channelRole' = 'security' order by id`;
  }

  beforeEach(() => {
    deps.clock.advance(60_000);
  });

  it('rotates: the new key logs in, the old key is refused, and the registry and trail follow', async () => {
    const { key: old, privateKey: oldPrivate } = await freshServiceKey();
    expect(await tryLogin(server, oldPrivate)).toBe('ok');

    const outcome = await rotateServiceKey(deps, old.id, { actor: 'user:test', trigger: 'manual' });

    expect(outcome.status).toBe('rotated');
    expect(outcome.servers).toEqual([{ server: server.name, login: LOGIN, ok: true }]);
    const newPrivate = await unsealServiceKey(deps, outcome.newKeyId!);
    expect(newPrivate).not.toBe(oldPrivate);
    // Both proven with real, fresh connections.
    expect(await tryLogin(server, newPrivate)).toBe('ok');
    expect(await tryLogin(server, oldPrivate)).toBe('auth-failed');

    const file = readAuthorizedKeys(LOGIN);
    expect(file).not.toContain(old.publicKey.split(' ')[1]);
    const created = (await getKey(db.current.sql, outcome.newKeyId!))!;
    expect(file).toContain(created.publicKey.split(' ')[1]);
    expect(file).toMatch(/ warden:service-[0-9a-f]{12}\n$/);

    const retired = (await getKey(db.current.sql, old.id))!;
    expect(retired.retiredReason).toBe('rotated');
    expect(created).toMatchObject({
      ownerId: owner.user.id,
      rotatedFrom: old.id,
      kind: 'service',
      retiredAt: null,
    });
    expect(created.nextRotationAt?.getTime()).toBe(created.createdAt.getTime() + 12 * 3_600_000);
    expect(await listLiveInstallations(db.current.sql, [old.id])).toEqual([]);
    expect(await listLiveInstallations(db.current.sql, [created.id])).toHaveLength(1);

    const actions = await db.current.sql<{ action: string }[]>`
      select action from audit_events where subject_type = 'key' and subject_id in (${String(old.id)}, ${String(created.id)})
      order by seq`;
    expect(actions.map((a) => a.action)).toEqual([
      'key.registered',
      'key.rotation.started',
      'key.registered',
      'key.rotation.completed',
    ]);
    expect(sshd.count(/Accepted publickey for wkrotate/)).toBeGreaterThanOrEqual(3);
  });

  it('keeps the old key working and alerts when the connection drops right after the new key is added', async () => {
    const { key: old, privateKey: oldPrivate } = await freshServiceKey();
    const before = (await securityAlerts()).length;
    let newLine = '';

    const outcome = await rotateServiceKey(deps, old.id, {
      actor: 'job:keys-rotate',
      trigger: 'schedule',
      hooks: {
        async afterAdd({ oldTarget }) {
          newLine =
            readAuthorizedKeys(LOGIN)
              .split('\n')
              .find((l) => l.includes('warden:service-')) ?? '';
          // The connection goes away in the middle of the rotation.
          await oldTarget!.close();
          throw new Error('connection lost after adding the new key');
        },
      },
    });

    expect(newLine).not.toBe('');
    expect(outcome.status).toBe('failed');
    expect(outcome.reason).toContain('connection lost');
    // Nothing locked out: Warden still gets in with the key it has.
    expect(await tryLogin(server, await unsealServiceKey(deps, old.id))).toBe('ok');
    expect(await tryLogin(server, oldPrivate)).toBe('ok');
    // The half-added line was taken back, and the old key is still the live one.
    expect(readAuthorizedKeys(LOGIN)).not.toContain('warden:service-');
    expect((await getKey(db.current.sql, old.id))!.retiredAt).toBeNull();
    expect(await getRunningRotation(db.current.sql, old.id)).toBeUndefined();
    const [rotation] = await listRotations(db.current.sql, [old.id]);
    expect(rotation).toMatchObject({ status: 'failed' });

    const alerts = await securityAlerts();
    expect(alerts.length).toBe(before + 1);
    expect(alerts.at(-1)!.text).toContain('Warden keeps using the old key');
    const [event] = await db.current.sql<{ data: { step: string; rollback: { oldKeyWorks: boolean }[] } }[]>`
      select data from audit_events where action = 'key.rotation.failed' and subject_id = ${String(old.id)}`;
    expect(event!.data.step).toBe('add');
    expect(event!.data.rollback).toEqual([{ server: server.name, newLineRemoved: true, oldKeyWorks: true }]);
  });

  it('rolls back when the new key does not actually log in', async () => {
    const { key: old, privateKey: oldPrivate } = await freshServiceKey();
    const outcome = await rotateServiceKey(deps, old.id, {
      actor: 'user:test',
      trigger: 'manual',
      hooks: {
        // Someone (or a config management run) rewrites the file between the add and the check.
        async beforeVerify() {
          writeAuthorizedKeys(LOGIN, [old.publicKey]);
        },
      },
    });
    expect(outcome.status).toBe('failed');
    expect(outcome.servers[0]).toMatchObject({ ok: false, step: 'verify' });
    expect(outcome.servers[0]!.error).toMatch(/refused/);
    expect(await tryLogin(server, oldPrivate)).toBe('ok');
    expect((await getKey(db.current.sql, old.id))!.retiredAt).toBeNull();
  });

  it('lets only one run rotate a key at a time', async () => {
    const { key: old } = await freshServiceKey();
    const claimed = await withTx(db.current.sql, (tx) =>
      claimRotation(
        tx,
        { keyId: old.id, tag: 'service-held', newFingerprint: 'x', trigger: 'manual' },
        deps.clock.now(),
      ),
    );
    expect(claimed).toBeDefined();
    const outcome = await rotateServiceKey(deps, old.id, { actor: 'user:test', trigger: 'manual' });
    expect(outcome).toMatchObject({ status: 'skipped' });
    expect(outcome.reason).toContain('already running');
    await db.current.sql`update key_rotations set status = 'failed' where id = ${claimed!}`;
  });

  it('cleans up after a run that died between adding the new key and the switch', async () => {
    const { key: old, privateKey: oldPrivate } = await freshServiceKey();
    const orphan = generateEd25519('orphan');
    const rotationId = await withTx(db.current.sql, (tx) =>
      claimRotation(
        tx,
        { keyId: old.id, tag: 'service-crashed', newFingerprint: orphan.fingerprint, trigger: 'schedule' },
        deps.clock.now(),
      ),
    );
    writeAuthorizedKeys(LOGIN, [old.publicKey, `${orphan.publicKey} warden:service-crashed`]);
    deps.clock.advance(ROTATION_STALE_MS + 60_000);

    expect(await recoverStaleRotations(deps, { actor: 'job:keys-rotate' })).toBe(1);

    expect(readAuthorizedKeys(LOGIN)).not.toContain('service-crashed');
    expect(await tryLogin(server, oldPrivate)).toBe('ok');
    const [rotation] = await listRotations(db.current.sql, [old.id]);
    expect(rotation).toMatchObject({ id: rotationId, status: 'abandoned' });
  });

  it('the scheduled job rotates keys past their project policy, used or not, and reports in the channel', async () => {
    const { key: old, privateKey: oldPrivate } = await freshServiceKey();
    expect((await findDueServiceKeys(deps)).map((d) => d.key.id)).not.toContain(old.id);
    deps.clock.advance(13 * 3_600_000);
    expect((await findDueServiceKeys(deps)).map((d) => d.key.id)).toEqual([old.id]);

    const summary = await rotateDueKeys(deps, { concurrency: 2 });

    expect(summary.due).toBe(1);
    expect(summary.outcomes.map((o) => o.status)).toEqual(['rotated']);
    expect(await tryLogin(server, oldPrivate)).toBe('auth-failed');
    expect(await tryLogin(server, await unsealServiceKey(deps, summary.outcomes[0]!.newKeyId!))).toBe('ok');
    expect(await findDueServiceKeys(deps)).toEqual([]);
    const [post] = await db.current.sql<{ text: string; projectId: number }[]>`
      select payload -> 'reply' ->> 'text' as text, (payload ->> 'projectId')::int as "projectId" from outbox
      where kind = 'channel-post' and payload -> 'reply' ->> 'header' = 'Scheduled key rotation' order by id desc limit 1`;
    expect(post).toEqual({
      text: '1 rotated, 0 failed, 0 with an old key left, 0 skipped.',
      projectId: project.id,
    });
  });
});
