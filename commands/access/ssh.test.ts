import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeClock } from '../../lib/clock.js';
import { type Grant, getGrant } from '../../storage/access.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { ensureTestUser, type SshdHandle, sshdUnavailableReason, startSshd } from '../../test/sshd.js';
import { decide } from '../approvals/engine.js';
import { createActor, createProjectRow, uniqueHandle } from '../approvals/testing.js';
import type { Actor } from '../rbac/authorize.js';
import { createTargetFactory, type TargetFactory } from '../scanning/target-factory.js';
import { requestCaInstall } from './ca-install.js';
import { expireGrants } from './expire.js';
import { requestAccess } from './request.js';
import { revokeGrant } from './revoke.js';
import {
  accessSubjects,
  addServer,
  caInstallResults,
  drainAccessOutbox,
  makeKeyPair,
  registerUserKey,
  type TestKeyPair,
} from './testing.js';
import { runGrantWork } from './work.js';

/**
 * Grants against a real OpenSSH sshd, checked with the real `ssh` client logging in as the
 * requester. Expiry is shown without waiting: a grant whose window (on Warden's fake clock) lies
 * wholly in the real past gets an authorized_keys line, or a certificate, whose time is already
 * over by the real clock sshd reads; sshd alone refuses it, with Warden doing nothing more.
 */
const reason = sshdUnavailableReason();
const db = useTestDatabase('access_ssh');
const HOUR = 3_600_000;
const KEYS_LOGIN = 'wdacc-keys';
const CERT_LOGIN = 'wdacc-cert';
const OTHER_LOGIN = 'wdacc-other';

let sshd: SshdHandle;
let factory: TargetFactory;
let deps: TestDeps;
let approver: Actor;
let admin: Actor;
let caDir: string;
let knownHosts: string;
let keysProject: { id: number; slug: string };
let certProject: { id: number; slug: string };
const cleanup: string[] = [];

interface Login {
  code: number | null;
  stdout: string;
  stderr: string;
}

function sshLogin(login: string, key: TestKeyPair, certificateFile?: string): Promise<Login> {
  const args = [
    '-F',
    '/dev/null',
    '-i',
    key.privateKeyFile,
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    `UserKnownHostsFile=${knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'ConnectTimeout=10',
    '-o',
    'KexAlgorithms=curve25519-sha256',
    ...(certificateFile ? ['-o', `CertificateFile=${certificateFile}`] : []),
    '-p',
    String(sshd.port),
    `${login}@127.0.0.1`,
    'echo',
    'warden-login-ok',
  ];
  return new Promise((resolve) => {
    execFile('ssh', args, { timeout: 20_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function expectLoggedIn(result: Login): void {
  expect(result, result.stderr).toMatchObject({ code: 0 });
  expect(result.stdout.trim()).toBe('warden-login-ok');
}

function expectRefused(result: Login): void {
  expect(result.code, result.stdout).toBe(255);
  expect(result.stderr).toContain('Permission denied');
  expect(result.stdout).not.toContain('warden-login-ok');
}

function homeOf(login: string): string {
  return ensureTestUser(login);
}

function authorizedKeys(login: string): string {
  const file = path.join(homeOf(login), '.ssh', 'authorized_keys');
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

async function requester(name: string, projectId: number): Promise<{ actor: Actor; key: TestKeyPair }> {
  const actor = await createActor(db.current.sql, uniqueHandle(name), [['operator', projectId]]);
  const key = makeKeyPair(actor.user.handle);
  cleanup.push(key.dir);
  await registerUserKey(deps, actor, key.publicKey);
  return { actor, key };
}

/** Ask, approve and run the after-commit work, as the chat, the approver and the worker would. */
async function grantFor(actor: Actor, target: string, text = 'routine maintenance'): Promise<Grant> {
  const outcome = await requestAccess(deps, actor, { target, duration: '1h', ticket: 'OPS-7', reason: text });
  await decide(deps, { actor: approver, requestId: outcome.request.approvalId!, decision: 'approve' });
  await runGrantWork(deps);
  const [row] = await db.current.sql<
    { id: number }[]
  >`select id from grants where request_id = ${outcome.request.id}`;
  return (await getGrant(db.current.sql, row!.id))!;
}

function writeCertificate(grant: Grant, key: TestKeyPair, name: string): string {
  expect(grant.certificate).toMatch(/^ssh-ed25519-cert-v01@openssh\.com /);
  const file = path.join(key.dir, `${name}-cert.pub`);
  writeFileSync(file, `${grant.certificate}\n`);
  return file;
}

beforeAll(async () => {
  if (reason) return;
  caDir = mkdtempSync(path.join(tmpdir(), 'wd-access-ca-'));
  writeFileSync(path.join(caDir, 'ca.pub'), '');
  writeFileSync(path.join(caDir, 'revoked'), '');
  sshd = await startSshd({
    users: [KEYS_LOGIN, CERT_LOGIN, OTHER_LOGIN],
    extraConfig: [`TrustedUserCAKeys ${caDir}/ca.pub`, `RevokedKeys ${caDir}/revoked`],
  });
  // Warden logs in as the certificate login and writes the CA files as that user (no sudo here).
  const { uid, gid } = statSync(homeOf(CERT_LOGIN));
  for (const f of ['', 'ca.pub', 'revoked']) chownSync(path.join(caDir, f), uid, gid);
  knownHosts = path.join(sshd.dir, 'client_known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${sshd.hostKeyPublic}\n`);

  const { sql } = db.current;
  factory = createTargetFactory();
  deps = createTestDeps(sql, {
    clock: createFakeClock(new Date()),
    approvalSubjects: accessSubjects(),
    targets: factory,
  });
  keysProject = await createProjectRow(sql, uniqueHandle('keys'), { access: { defaultLogin: KEYS_LOGIN } });
  certProject = await createProjectRow(sql, uniqueHandle('cert'), {
    access: {
      mode: 'certificate',
      defaultLogin: CERT_LOGIN,
      ca: {
        trustedKeysPath: `${caDir}/ca.pub`,
        revokedKeysPath: `${caDir}/revoked`,
        sshdConfigPath: `${sshd.dir}/sshd_config`,
        sudo: false,
      },
    },
  });
  for (const [name, project, login] of [
    ['keys-host', keysProject, KEYS_LOGIN],
    ['cert-host', certProject, CERT_LOGIN],
  ] as const) {
    const secret = `ssh-key:${name}`;
    await sql`insert into secrets (name, purpose, sealed) values (${secret}, 'ssh service key', ${deps.vault.seal(sshd.clientKey.privateKey, secret)})`;
    await addServer(sql, {
      name,
      projectId: project.id,
      port: sshd.port,
      connection: { user: login, hostKey: sshd.hostKeyFingerprint, trustOnFirstUse: false },
    });
  }
  approver = await createActor(sql, uniqueHandle('bob'), [
    ['approver', keysProject.id],
    ['approver', certProject.id],
  ]);
  admin = await createActor(sql, uniqueHandle('admin'), [['admin', null]]);
});

afterAll(async () => {
  await factory?.close();
  await sshd?.stop();
  for (const dir of [...cleanup, caDir]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(Boolean(reason))(
  `authorized-keys grants on a real sshd${reason ? ` (skipped: ${reason})` : ''}`,
  () => {
    it('lets the requester log in during the grant, with the reason kept off the server', async () => {
      deps.clock.set(new Date());
      const { actor, key } = await requester('alice', keysProject.id);
      const marker = path.join(tmpdir(), `wd-access-pwned-${process.pid}`);
      const grant = await grantFor(
        actor,
        'keys-host',
        `fix; rm -rf ${marker} $(touch ${marker}) \`touch ${marker}\``,
      );
      const line = authorizedKeys(KEYS_LOGIN)
        .split('\n')
        .find((l) => l.endsWith(` warden:warden-grant-${grant.id}`));
      expect(line).toMatch(/^expiry-time="\d{14}Z" ssh-ed25519 /);
      expect(authorizedKeys(KEYS_LOGIN)).not.toContain('rm -rf');
      expect(existsSync(marker)).toBe(false);
      expectLoggedIn(await sshLogin(KEYS_LOGIN, key));
    });

    it('is refused after expiry by sshd alone, with Warden stopped, and the expiry job then removes the line', async () => {
      // The whole window lies in the real past: granted 3 h ago (Warden's clock) for 1 h.
      deps.clock.set(new Date(Date.now() - 3 * HOUR));
      const { actor, key } = await requester('erin', keysProject.id);
      const grant = await grantFor(actor, 'keys-host');
      expect(grant.status).toBe('active');
      // Warden does nothing more (no expiry job runs): the line is still there, and sshd refuses it.
      expect(authorizedKeys(KEYS_LOGIN)).toContain(` warden:warden-grant-${grant.id}`);
      expectRefused(await sshLogin(KEYS_LOGIN, key));

      deps.clock.set(new Date());
      const result = await expireGrants(deps);
      expect(result.expired).toContain(grant.id);
      expect(authorizedKeys(KEYS_LOGIN)).not.toContain(`warden-grant-${grant.id}`);
      expect((await getGrant(db.current.sql, grant.id))!.status).toBe('expired');
    });

    it('is refused after revocation, once the line is removed and checked gone', async () => {
      deps.clock.set(new Date());
      const { actor, key } = await requester('frank', keysProject.id);
      const grant = await grantFor(actor, 'keys-host');
      expectLoggedIn(await sshLogin(KEYS_LOGIN, key));
      await revokeGrant(deps, { actor, grantId: grant.id, reason: 'done early' });
      const work = await runGrantWork(deps);
      expect(work).toMatchObject({ removed: 1, failed: 0 });
      expect(authorizedKeys(KEYS_LOGIN)).not.toContain(`warden-grant-${grant.id}`);
      expectRefused(await sshLogin(KEYS_LOGIN, key));
    });
  },
);

describe.skipIf(Boolean(reason))(
  `certificate grants on a real sshd${reason ? ` (skipped: ${reason})` : ''}`,
  () => {
    let valid: { grant: Grant; key: TestKeyPair; cert: string };

    beforeAll(async () => {
      if (reason) return;
      // this sshd_config names the files itself (no Include): no drop-in, no reload
      const { run } = await requestCaInstall(deps, admin, certProject.slug);
      await drainAccessOutbox(deps);
      expect(await caInstallResults(db.current.sql, run)).toEqual([
        { server: 'cert-host', state: 'installed', detail: expect.stringContaining('named in') },
      ]);
      expect(readFileSync(path.join(caDir, 'ca.pub'), 'utf8')).toMatch(/^ssh-ed25519 \S+/);
    });

    it('logs in with a valid certificate, but not as another login', async () => {
      deps.clock.set(new Date());
      const { actor, key } = await requester('gina', certProject.id);
      const grant = await grantFor(actor, 'cert-host');
      expect(grant.certKeyId).toBe(`grant-${grant.id} ticket OPS-7`);
      const cert = writeCertificate(grant, key, 'valid');
      valid = { grant, key, cert };
      expectLoggedIn(await sshLogin(CERT_LOGIN, key, cert));
      expectRefused(await sshLogin(OTHER_LOGIN, key, cert));
    });

    it('refuses an expired certificate', async () => {
      deps.clock.set(new Date(Date.now() - 3 * HOUR));
      const { actor, key } = await requester('hank', certProject.id);
      const grant = await grantFor(actor, 'cert-host');
      deps.clock.set(new Date());
      expectRefused(await sshLogin(CERT_LOGIN, key, writeCertificate(grant, key, 'expired')));
    });

    it('refuses a revoked certificate once the RevokedKeys list is pushed', async () => {
      expect(valid).toBeDefined();
      deps.clock.set(new Date());
      await revokeGrant(deps, { actor: approver, grantId: valid.grant.id, reason: 'left the team' });
      const work = await runGrantWork(deps);
      expect(work).toMatchObject({ removed: 1, failed: 0 });
      const publicPart = valid.key.publicKey.split(' ').slice(0, 2).join(' ');
      expect(readFileSync(path.join(caDir, 'revoked'), 'utf8')).toContain(publicPart);
      expectRefused(await sshLogin(CERT_LOGIN, valid.key, valid.cert));

      // once the certificate has run out by itself, its key leaves the list again
      deps.clock.set(new Date(Date.now() + 2 * HOUR));
      await expireGrants(deps);
      expect(readFileSync(path.join(caDir, 'revoked'), 'utf8')).not.toContain(publicPart);
    });
  },
);
