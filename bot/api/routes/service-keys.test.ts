import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { Hono } from 'hono';
import sshpk from 'sshpk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadActor } from '../../../commands/rbac/authorize.js';
import { startScan } from '../../../commands/scanning/scan.js';
import { createTargetFactory, type TargetFactory } from '../../../commands/scanning/target-factory.js';
import { insertTestServer } from '../../../commands/scanning/testing.js';
import { createLogger } from '../../../lib/logger.js';
import { useTestDatabase } from '../../../test/db.js';
import { createTestDeps, type TestDeps } from '../../../test/deps.js';
import { acquireMachineLock } from '../../../test/machine-lock.js';
import { type SshdHandle, sshdUnavailableReason, startSshd } from '../../../test/sshd.js';
import { createApp } from '../../app.js';
import type { AppEnv } from '../../http/context.js';
import { bearer, ensureProject, seedUser, tokenFor } from '../testing.js';

const db = useTestDatabase('api-service-keys');
let deps: TestDeps;
let app: Hono<AppEnv>;
let targets: TargetFactory;
let adminToken: string;
let keyReaderToken: string;
let logged = '';

type Json = Record<string, unknown> & {
  items?: Record<string, unknown>[];
  publicKey?: string;
  error?: { code: string; message: string };
};

beforeAll(async () => {
  targets = createTargetFactory({ ssh: { connectTimeoutMs: 3_000 } });
  deps = createTestDeps(db.current.sql, {
    targets,
    log: createLogger('debug', {
      write: (line: string) => {
        logged += line;
      },
    }),
  });
  app = createApp({ deps });
  await ensureProject(db.current.sql, 'lab');
  const root = await seedUser(db.current.sql, 'root', [{ role: 'admin' }]);
  const aud = await seedUser(db.current.sql, 'audra', [{ role: 'auditor' }]);
  adminToken = await tokenFor(deps, root, ['keys:manage', 'scan:run', 'inventory:read']);
  keyReaderToken = await tokenFor(deps, aud, ['keys:read']);
});
afterAll(async () => {
  await targets?.close();
});

async function call(method: string, path: string, token: string, body?: unknown) {
  const res = await app.request(`/api/v1${path}`, {
    method,
    headers: bearer(token, body === undefined ? {} : { 'content-type': 'application/json' }),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as Json };
}

/** Everything a secret could leak into: every trail event and outbox row, and the log so far. */
async function everywhere(): Promise<string> {
  const rows = await db.current.sql`select data from audit_events`;
  const outbox = await db.current.sql`select payload from outbox`;
  return JSON.stringify(rows) + JSON.stringify(outbox) + logged;
}

const secretCount = async () =>
  (await db.current.sql<{ n: number }[]>`select count(*)::int as n from secrets`)[0]!.n;

function privateBody(pem: string): string {
  // The base64 body of the key, which is what must never be seen again.
  return pem
    .split('\n')
    .filter((l) => l && !l.startsWith('-----'))
    .join('');
}

describe('service keys API', () => {
  it('generates a key for a scope, seals it under ssh-key:<scope>, registers it to the caller', async () => {
    const r = await call('POST', '/service-keys', adminToken, { scope: 'web-01' });
    expect(r.status).toBe(201);
    expect(r.body.publicKey).toMatch(/^ssh-ed25519 AAAA[A-Za-z0-9+/=]+ warden-service$/);
    const [secret] = await db.current.sql<
      { sealed: string }[]
    >`select sealed from secrets where name = 'ssh-key:web-01'`;
    const privateKey = deps.vault.openText(secret!.sealed, 'ssh-key:web-01');
    expect(sshpk.parsePrivateKey(privateKey, 'auto').toPublic().fingerprint('sha256').toString()).toBe(
      r.body.fingerprint,
    );
    expect(r.text).not.toContain(privateBody(privateKey));
    expect(await everywhere()).not.toContain(privateBody(privateKey));

    const listed = await call('GET', '/service-keys', adminToken);
    expect(listed.body.items).toEqual([
      expect.objectContaining({
        scope: 'web-01',
        fingerprint: r.body.fingerprint,
        owner: 'root',
        keyType: 'ssh-ed25519',
      }),
    ]);
    const item = listed.body.items![0]! as { createdAt: string; nextRotationAt: string };
    expect(Date.parse(item.nextRotationAt) - Date.parse(item.createdAt)).toBe(30 * 86_400_000);
    const [key] = await db.current.sql<{ owner: string }[]>`
      select u.handle as owner from keys k join users u on u.id = k.owner_id where k.kind = 'service'`;
    expect(key!.owner).toBe('root');
  });

  it('imports a private key, returns only its public key, and never echoes the private key', async () => {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const expected = sshpk.parsePrivateKey(pem, 'pkcs8').toPublic().toString('ssh').split(' ')[1];
    const r = await call('POST', '/service-keys', adminToken, { scope: 'aws-prod', privateKey: pem });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ scope: 'aws-prod', imported: true });
    expect(r.body.publicKey!.split(' ')[1]).toBe(expected);
    expect(r.text).not.toContain(privateBody(pem));
    expect(await everywhere()).not.toContain(privateBody(pem));
    expect((await call('GET', '/service-keys', adminToken)).text).not.toContain(privateBody(pem));
  });

  it('refuses bad keys, hostile scopes and duplicates with 400/409, writing nothing, echoing nothing', async () => {
    const before = await secretCount();
    const rsaSmall = generateKeyPairSync('rsa', { modulusLength: 1024 })
      .privateKey.export({ type: 'pkcs1', format: 'pem' })
      .toString();
    const garbage =
      '-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWJ1dC1ub3QtYS1rZXk=\n-----END OPENSSH PRIVATE KEY-----\n';
    for (const privateKey of [rsaSmall, garbage, 'hunter2-not-a-key', 'x'.repeat(20_000)]) {
      const r = await call('POST', '/service-keys', adminToken, { scope: 'bad', privateKey });
      expect(r.status).toBe(400);
      expect(r.text).not.toContain(privateBody(privateKey).slice(0, 40));
    }
    for (const scope of ['default; rm -rf /', '$(reboot)', 'a\nb', 'sérveur', '../x', '', 'ssh-key:x']) {
      expect((await call('POST', '/service-keys', adminToken, { scope })).status, scope).toBe(400);
    }
    expect((await call('POST', '/service-keys', adminToken, { scope: 'web-01' })).status).toBe(409);
    expect(await secretCount()).toBe(before);
    expect(await everywhere()).not.toContain('hunter2');
    expect(await everywhere()).not.toContain('c2VjcmV0LWJ1dC1ub3QtYS1rZXk');
  });

  it('needs keys:manage', async () => {
    expect((await call('POST', '/service-keys', keyReaderToken, { scope: 'x' })).status).toBe(403);
    expect((await call('GET', '/service-keys', keyReaderToken)).status).toBe(403);
  });
});

const aptReason =
  spawnSync('sh', ['-c', 'command -v apt-get']).status === 0 ? null : 'apt-get is not installed here';
const sshReason = aptReason ?? sshdUnavailableReason();

describe.skipIf(Boolean(sshReason))(
  `a service key made by the API scans over ssh${sshReason ? ` (skipped: ${sshReason})` : ''}`,
  () => {
    let sshd: SshdHandle;
    let release: () => void = () => {};
    beforeAll(async () => {
      release = await acquireMachineLock('apt');
      sshd = await startSshd({ users: ['wardensk'] });
    }, 6 * 60_000);
    afterAll(async () => {
      await sshd?.stop();
      release();
    });

    it('creates ssh-key:default through the API, installs its public key, and a real scan logs in with it', async () => {
      const made = await call('POST', '/service-keys', adminToken, { scope: 'default' });
      expect(made.status).toBe(201);
      // Only Warden's new key is authorized: the harness's own client key is replaced.
      writeFileSync(`${sshd.dir}/authorized_keys/wardensk`, `${made.body.publicKey}\n`, { mode: 0o644 });
      const lab = await ensureProject(db.current.sql, 'lab');
      await insertTestServer(db.current.sql, {
        name: 'sk-ssh',
        projectId: lab.id,
        address: '127.0.0.1',
        port: sshd.port,
        connection: { user: 'wardensk' },
      });
      const [root] = await db.current.sql<
        { id: number; handle: string; displayName: string; email: string | null; disabled: boolean }[]
      >`
      select id, handle, display_name as "displayName", email, disabled from users where handle = 'root'`;
      const actor = await loadActor(db.current.sql, root!, 'api');
      const started = await startScan(deps, actor, { scope: 'sk-ssh' });
      const outcome = (await started.done)!;
      expect(outcome.outcomes[0]).toMatchObject({ status: 'succeeded' });
      expect(sshd.count(/Accepted publickey for wardensk/)).toBeGreaterThan(0);
      const [secret] = await db.current.sql<
        { sealed: string }[]
      >`select sealed from secrets where name = 'ssh-key:default'`;
      expect(await everywhere()).not.toContain(
        privateBody(deps.vault.openText(secret!.sealed, 'ssh-key:default')),
      );
    });
  },
);
