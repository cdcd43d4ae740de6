import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeClock } from '../../lib/clock.js';
import { type Grant, getGrant } from '../../storage/access.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { type SshdHandle, sshdUnavailableReason, startSshd } from '../../test/sshd.js';
import { decide } from '../approvals/engine.js';
import { createActor, createProjectRow, uniqueHandle } from '../approvals/testing.js';
import type { Actor } from '../rbac/authorize.js';
import { createTargetFactory, type TargetFactory } from '../scanning/target-factory.js';
import { requestCaInstall } from './ca-install.js';
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
 * `ca install` against a real OpenSSH sshd whose config includes `<dir>/sshd_config.d/*.conf`,
 * as Debian's does: the queued work writes Warden's drop-in, checks it with `sshd -t`, reloads the
 * harness sshd (SIGHUP to its pid, the project's `reloadArgv`), and then the real `ssh` client
 * logs in with a certificate from Warden's CA, until the grant is revoked.
 */
const reason = sshdUnavailableReason();
const db = useTestDatabase('access_ca_sshd');
const LOGIN = 'wdca-cert';
const LISTENING = /Server listening on 127\.0\.0\.1 port/;

let sshd: SshdHandle;
let factory: TargetFactory;
let deps: TestDeps;
let admin: Actor;
let approver: Actor;
let caDir: string;
let knownHosts: string;
let project: { id: number; slug: string };
let plain: { id: number; slug: string };
const cleanup: string[] = [];

function caPolicy(name: string, sshdConfigPath: string) {
  return {
    trustedKeysPath: `${caDir}/${name}-ca.pub`,
    revokedKeysPath: `${caDir}/${name}-revoked`,
    sshdConfigPath,
    dropInPath: `${sshd.dir}/sshd_config.d/50-warden-ca.conf`,
    sudo: false,
    reloadArgv: ['kill', '-HUP', String(sshd.pid)],
  };
}

function sshLogin(key: TestKeyPair, certificateFile: string): Promise<number | null> {
  const args = ['-F', '/dev/null', '-i', key.privateKeyFile, '-o', `CertificateFile=${certificateFile}`];
  for (const option of ['BatchMode=yes', 'IdentitiesOnly=yes', `UserKnownHostsFile=${knownHosts}`]) {
    args.push('-o', option);
  }
  args.push('-o', 'StrictHostKeyChecking=yes', '-o', 'ConnectTimeout=10', '-p', String(sshd.port));
  args.push(`${LOGIN}@127.0.0.1`, 'echo', 'warden-login-ok');
  return new Promise((resolve) => {
    execFile('ssh', args, { timeout: 20_000 }, (error, stdout) => {
      if (error) resolve(typeof error.code === 'number' ? error.code : -1);
      else resolve(stdout.trim() === 'warden-login-ok' ? 0 : -2);
    });
  });
}

/** sshd re-execs itself on SIGHUP and logs "Server listening" again once it accepts connections. */
async function listeningAgain(before: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (sshd.count(LISTENING) <= before) {
    if (Date.now() > deadline) throw new Error(`sshd did not listen again after SIGHUP:\n${sshd.log()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function certificateGrant(name: string): Promise<{ grant: Grant; key: TestKeyPair; cert: string }> {
  const actor = await createActor(db.current.sql, uniqueHandle(name), [['operator', project.id]]);
  const key = makeKeyPair(actor.user.handle);
  cleanup.push(key.dir);
  await registerUserKey(deps, actor, key.publicKey);
  const outcome = await requestAccess(deps, actor, {
    target: 'ca-host',
    duration: '1h',
    ticket: 'OPS-9',
    reason: 'check the CA install',
  });
  await decide(deps, { actor: approver, requestId: outcome.request.approvalId!, decision: 'approve' });
  await runGrantWork(deps);
  const [row] = await db.current.sql<{ id: number }[]>`
    select id from grants where request_id = ${outcome.request.id}`;
  const grant = (await getGrant(db.current.sql, row!.id))!;
  const cert = path.join(key.dir, 'id_ed25519-cert.pub');
  writeFileSync(cert, `${grant.certificate}\n`);
  return { grant, key, cert };
}

async function install(slug: string) {
  const queued = await requestCaInstall(deps, admin, slug);
  expect(queued.servers).toBe(1);
  await drainAccessOutbox(deps);
  return caInstallResults(db.current.sql, queued.run);
}

const dropIn = () => readFileSync(`${sshd.dir}/sshd_config.d/50-warden-ca.conf`, 'utf8');

beforeAll(async () => {
  if (reason) return;
  caDir = mkdtempSync(path.join(tmpdir(), 'wd-ca-sshd-'));
  // Warden logs in as root here: it writes under /etc/ssh and runs sshd -t on real servers
  sshd = await startSshd({ users: [LOGIN, 'root'], rootLogin: true, includeDir: true });
  knownHosts = path.join(sshd.dir, 'client_known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${sshd.hostKeyPublic}\n`);
  const withoutInclude = readFileSync(`${sshd.dir}/sshd_config`, 'utf8').replace(/^Include .*\n/m, '');
  writeFileSync(`${caDir}/plain_sshd_config`, withoutInclude);

  const { sql } = db.current;
  factory = createTargetFactory();
  deps = createTestDeps(sql, {
    clock: createFakeClock(new Date()),
    approvalSubjects: accessSubjects(),
    targets: factory,
  });
  const access = (ca: ReturnType<typeof caPolicy>) => ({
    access: { mode: 'certificate', defaultLogin: LOGIN, ca },
  });
  project = await createProjectRow(
    sql,
    uniqueHandle('ca'),
    access(caPolicy('main', `${sshd.dir}/sshd_config`)),
  );
  plain = await createProjectRow(
    sql,
    uniqueHandle('plain'),
    access(caPolicy('plain', `${caDir}/plain_sshd_config`)),
  );
  for (const [name, owner] of [
    ['ca-host', project],
    ['plain-host', plain],
  ] as const) {
    const secret = `ssh-key:${name}`;
    await sql`insert into secrets (name, purpose, sealed) values (${secret}, 'ssh service key', ${deps.vault.seal(sshd.clientKey.privateKey, secret)})`;
    await addServer(sql, {
      name,
      projectId: owner.id,
      port: sshd.port,
      connection: { user: 'root', hostKey: sshd.hostKeyFingerprint, trustOnFirstUse: false },
    });
  }
  admin = await createActor(sql, uniqueHandle('admin'), [['admin', null]]);
  approver = await createActor(sql, uniqueHandle('bob'), [['approver', project.id]]);
});

afterAll(async () => {
  await factory?.close();
  await sshd?.stop();
  for (const dir of [...cleanup, caDir]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(Boolean(reason))(`ca install on a real sshd${reason ? ` (skipped: ${reason})` : ''}`, () => {
  let valid: { grant: Grant; key: TestKeyPair; cert: string };

  it('reports a server whose sshd_config has no Include as needing one, and edits no config', async () => {
    const before = readFileSync(`${caDir}/plain_sshd_config`, 'utf8');
    const [result] = await install(plain.slug);
    expect(result).toMatchObject({ server: 'plain-host', state: 'needs-manual-include' });
    expect(result!.detail).toContain(`\`TrustedUserCAKeys ${caDir}/plain-ca.pub\``);
    expect(result!.detail).toContain(`\`RevokedKeys ${caDir}/plain-revoked\``);
    expect(readFileSync(`${caDir}/plain_sshd_config`, 'utf8')).toBe(before);
    expect(existsSync(`${sshd.dir}/sshd_config.d/50-warden-ca.conf`)).toBe(false);
    expect(sshd.count(/Received SIGHUP/)).toBe(0);
  });

  it('answers at once, then writes the drop-in, reloads sshd, and a certificate from the CA logs in', async () => {
    const queued = await requestCaInstall(deps, admin, project.slug);
    // the command itself touched no server: the work waits in the outbox
    expect(existsSync(`${sshd.dir}/sshd_config.d/50-warden-ca.conf`)).toBe(false);
    const [pending] = await db.current.sql<{ n: number }[]>`
      select count(*)::int as n from outbox where channel = 'access' and kind = 'ca-install' and status = 'pending'`;
    expect(pending!.n).toBe(1);

    const listening = sshd.count(LISTENING);
    await drainAccessOutbox(deps);
    const [result] = await caInstallResults(db.current.sql, queued.run);
    expect(result).toMatchObject({ server: 'ca-host', state: 'installed' });
    expect(result!.detail).toContain('sshd reloaded');
    expect(dropIn()).toContain(
      `\nTrustedUserCAKeys ${caDir}/main-ca.pub\nRevokedKeys ${caDir}/main-revoked\n`,
    );
    await listeningAgain(listening);
    expect(sshd.count(/Received SIGHUP/)).toBe(1);

    valid = await certificateGrant('gina');
    expect(await sshLogin(valid.key, valid.cert)).toBe(0);
  });

  it('is already current when run again, without reloading sshd', async () => {
    const [result] = await install(project.slug);
    expect(result).toMatchObject({ server: 'ca-host', state: 'already-current' });
    expect(sshd.count(/Received SIGHUP/)).toBe(1);
  });

  it('refuses a revoked certificate once the key is pushed into the list the drop-in names', async () => {
    expect(valid).toBeDefined();
    await revokeGrant(deps, { actor: approver, grantId: valid.grant.id, reason: 'left the team' });
    expect(await runGrantWork(deps)).toMatchObject({ removed: 1, failed: 0 });
    const publicPart = valid.key.publicKey.split(' ').slice(0, 2).join(' ');
    expect(readFileSync(`${caDir}/main-revoked`, 'utf8')).toContain(publicPart);
    expect(await sshLogin(valid.key, valid.cert)).not.toBe(0);
  });

  it('puts the previous drop-in back when sshd -t fails, and sshd still accepts certificates', async () => {
    const before = dropIn();
    const broken = `${sshd.dir}/sshd_config.d/40-broken.conf`;
    writeFileSync(broken, 'NoSuchKeyword yes\n');
    // a new revocation path makes the drop-in differ, so Warden writes it and sshd -t runs
    const moved = {
      ...caPolicy('main', `${sshd.dir}/sshd_config`),
      revokedKeysPath: `${caDir}/moved-revoked`,
    };
    await db.current.sql`
      update projects set settings = ${db.current.sql.json({ access: { mode: 'certificate', defaultLogin: LOGIN, ca: moved } })}
      where id = ${project.id}`;
    try {
      const [result] = await install(project.slug);
      expect(result).toMatchObject({ server: 'ca-host', state: 'failed' });
      expect(result!.detail).toMatch(/sshd -t refused .*NoSuchKeyword/);
      expect(dropIn()).toBe(before);
      expect(sshd.count(/Received SIGHUP/)).toBe(1);
    } finally {
      unlinkSync(broken);
    }
    const fresh = await certificateGrant('hank');
    expect(await sshLogin(fresh.key, fresh.cert)).toBe(0);
  });
});
