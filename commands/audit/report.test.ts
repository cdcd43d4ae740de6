import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, tokenFor } from '../../bot/api/testing.js';
import { createApp } from '../../bot/app.js';
import { insertAccessRequest, insertGrant } from '../../storage/access.js';
import { withTx } from '../../storage/db.js';
import type { Server } from '../../storage/inventory.js';
import type { KeyRecord } from '../../storage/keys.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { type SshdHandle, sshdUnavailableReason, startSshd } from '../../test/sshd.js';
import { createActor, createProjectRow, uniqueHandle } from '../approvals/testing.js';
import { addUserKey } from '../keys/register.js';
import { type GeneratedKeyPair, generateEd25519 } from '../keys/service.js';
import { installServiceKey, sshdServer, tryLogin, writeAuthorizedKeys } from '../keys/testing.js';
import type { Actor } from '../rbac/authorize.js';
import { type AuditReport, buildAuditReport } from './report.js';
import { CSV_COLUMNS, csvRows, parseCsv, toCsv } from './report-csv.js';
import { parseSshdLine } from './report-parse.js';
import { recordEvent } from './trail.js';

const reason = sshdUnavailableReason();
if (reason) console.warn(`audit report tests skipped: ${reason}`);

const LOGIN = 'wkaudit';
const STRAY_USER = 'wkstray';
const db = useTestDatabase('audit_report');

/** Wait (with a deadline, never a fixed sleep) until sshd has logged `n` matching lines. */
async function logged(sshd: SshdHandle, pattern: RegExp, n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (sshd.count(pattern) < n) {
    if (Date.now() > deadline)
      throw new Error(`sshd logged ${sshd.count(pattern)} of ${n} lines matching ${pattern}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe.skipIf(Boolean(reason))('the post-action audit report against a real sshd', () => {
  let sshd: SshdHandle;
  let deps: TestDeps;
  let admin: Actor;
  let alice: Actor;
  let server: Server;
  let service: { key: KeyRecord; privateKey: string };
  let aliceKey: GeneratedKeyPair;
  let stray: GeneratedKeyPair;
  let grantId: number;
  let report: AuditReport;

  beforeAll(async () => {
    sshd = await startSshd({ users: [LOGIN, STRAY_USER] });
    const { sql } = db.current;
    deps = createTestDeps(sql);
    admin = await createActor(sql, uniqueHandle('owner'), [['admin', null]]);
    alice = await createActor(sql, uniqueHandle('alice'), [['operator', null]]);
    const project = await createProjectRow(sql, uniqueHandle('aud'), {
      audit: { authLogPaths: [`${sshd.dir}/auth.log`, '/nonexistent/../etc/shadow'] },
    });
    server = await sshdServer(sql, sshd, {
      name: uniqueHandle('aud-srv'),
      login: LOGIN,
      projectId: project.id,
      ownerId: admin.user.id,
    });
    service = await installServiceKey(deps, {
      server,
      login: LOGIN,
      ownerId: admin.user.id,
      secretName: `ssh-key:${server.name}`,
      projectId: project.id,
    });

    // Alice holds a grant on the server for her registered key.
    aliceKey = generateEd25519('alice@laptop');
    const registered = await addUserKey(deps, alice, { publicKey: aliceKey.publicKey });
    grantId = await withTx(sql, async (tx) => {
      const now = deps.clock.now();
      const request = await insertAccessRequest(tx, {
        requesterId: alice.user.id,
        projectId: project.id,
        scope: 'server',
        scopeName: server.name,
        serverIds: [server.id],
        login: LOGIN,
        durationMs: 7_200_000,
        requestedStart: null,
        ticket: 'OPS-1',
        reason: 'debugging',
        mode: 'authorized-keys',
        emergency: false,
        publicKey: aliceKey.publicKey,
        keyFingerprint: registered.fingerprint,
        keyId: registered.id,
        extendsGrantId: null,
        status: 'approved',
        createdAt: now,
      });
      const grant = await insertGrant(tx, {
        requestId: request.id,
        requesterId: alice.user.id,
        projectId: project.id,
        approvalId: null,
        login: LOGIN,
        mode: 'authorized-keys',
        publicKey: aliceKey.publicKey,
        keyFingerprint: registered.fingerprint,
        keyId: registered.id,
        fromPatterns: null,
        ticket: 'OPS-1',
        emergency: false,
        startsAt: new Date(now.getTime() - 3_600_000),
        expiresAt: new Date(now.getTime() + 3_600_000),
        createdAt: now,
      });
      await tx`insert into grant_servers (grant_id, server_id, tag, state, next_attempt_at, updated_at)
               values (${grant.id}, ${server.id}, ${`grant-${grant.id}`}, 'installed', ${now}, ${now})`;
      return grant.id;
    });

    // The file as an auditor finds it: Warden's key, the grant's line, a stray key and a broken line.
    stray = generateEd25519('stray@somewhere');
    writeAuthorizedKeys(LOGIN, [
      service.key.publicKey,
      `${aliceKey.publicKey} warden:grant-${grantId}`,
      `# added by hand`,
      `no-pty ${stray.publicKey}`,
      'ssh-ed25519 not-base64-at-all',
    ]);
    expect(await tryLogin(server, aliceKey.privateKey)).toBe('ok');
    expect(await tryLogin(server, stray.privateKey)).toBe('ok');
    await logged(sshd, /Accepted publickey for wkaudit/, 2);
    // The harness's sshd logs to its stderr; hand that log to the server as its auth log.
    writeFileSync(`${sshd.dir}/auth.log`, `${sshd.log()}\n`, { mode: 0o644 });

    await withTx(sql, (tx) =>
      recordEvent(tx, deps, {
        actor: `user:${alice.user.handle}`,
        action: 'script.ran',
        projectId: project.id,
        data: {
          exec: [
            { server: server.name, argv0: '/usr/local/bin/backup.sh', script: 'nightly backup' },
            { server: 'elsewhere', argv0: 'rm' },
          ],
        },
      }),
    );
    deps.clock.advance(31 * 86_400_000 - 60_000);
    report = await buildAuditReport(deps, admin, {
      server: server.name,
      since: new Date(deps.clock.now().getTime() - 40 * 86_400_000),
    });
  });
  afterAll(async () => {
    await sshd?.stop();
  });

  it('parses a real OpenSSH 9.2 "Accepted publickey" line from the harness sshd', () => {
    const line = sshd
      .log()
      .split('\n')
      .find((l) => l.startsWith('Accepted publickey for wkaudit') && l.includes(aliceKey.fingerprint));
    expect(line).toBeDefined();
    const parsed = parseSshdLine(line!, deps.clock.now());
    const keygen = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', '-'], {
      input: `${aliceKey.publicKey}\n`,
      encoding: 'utf8',
    });
    expect(parsed).toMatchObject({
      at: null,
      user: LOGIN,
      from: '127.0.0.1',
      keyType: 'ED25519',
      fingerprint: keygen.split(' ')[1],
      certificate: null,
    });
  });

  it('finds the stray authorized_keys entry and names the server owner to chase it', () => {
    const strayRow = report.authorizedKeys.find((k) => k.fingerprint === stray.fingerprint);
    expect(strayRow).toMatchObject({
      login: LOGIN,
      match: 'unknown',
      flagged: true,
      comment: 'stray@somewhere',
    });
    expect(report.findings).toContainEqual(
      expect.objectContaining({
        severity: 'high',
        server: server.name,
        subject: `authorized key ${stray.fingerprint} for ${LOGIN}`,
        chase: admin.user.handle,
      }),
    );
    expect(report.authorizedKeys.find((k) => k.fingerprint === service.key.fingerprint)).toMatchObject({
      match: 'service',
      flagged: false,
    });
    expect(report.authorizedKeys.find((k) => k.fingerprint === aliceKey.fingerprint)).toMatchObject({
      match: 'grant',
      grantId,
      user: alice.user.handle,
      tag: `grant-${grantId}`,
    });
    expect(report.authorizedKeys.find((k) => k.match === 'invalid')).toMatchObject({
      flagged: true,
      line: 5,
    });
  });

  it('finds login-shell accounts Warden does not know', () => {
    expect(report.accounts.find((a) => a.user === STRAY_USER)).toMatchObject({
      known: false,
      shell: expect.stringMatching(/sh$/),
    });
    expect(report.accounts.find((a) => a.user === LOGIN)).toMatchObject({ known: true });
    expect(report.accounts.find((a) => a.user === 'root')).toMatchObject({ known: true });
    expect(report.accounts.some((a) => a.shell.endsWith('nologin'))).toBe(false);
    expect(report.findings).toContainEqual(
      expect.objectContaining({ subject: `account ${STRAY_USER}`, chase: admin.user.handle }),
    );
  });

  it('matches logins from the sshd log to grants and flags the one no key explains', () => {
    const aliceLogin = report.logins.find((l) => l.fingerprint === aliceKey.fingerprint);
    expect(aliceLogin).toMatchObject({
      login: LOGIN,
      match: 'grant',
      grantId,
      user: alice.user.handle,
      flagged: false,
    });
    expect(report.logins.find((l) => l.fingerprint === stray.fingerprint)).toMatchObject({
      match: 'unknown',
      flagged: true,
    });
    expect(report.servers[0]).toMatchObject({ collected: true, owner: admin.user.handle });
  });

  it('lists the commands Warden ran on the server and for whom, and key rotation against policy', () => {
    expect(report.commands).toContainEqual(
      expect.objectContaining({
        server: server.name,
        command: '/usr/local/bin/backup.sh (nightly backup)',
        for: `user:${alice.user.handle}`,
        source: 'trail',
      }),
    );
    expect(report.commands.some((c) => c.server === 'elsewhere')).toBe(false);
    expect(report.keys.find((k) => k.fingerprint === service.key.fingerprint)).toMatchObject({
      kind: 'service',
      owner: admin.user.handle,
      overdue: true,
      rotationPolicy: 'every 30d (default)',
    });
  });

  it('exports CSV that parses back to the same rows', () => {
    const parsed = parseCsv(toCsv(report));
    expect(parsed[0]).toEqual([...CSV_COLUMNS]);
    expect(parsed.slice(1)).toEqual(csvRows(report));
    const strayRow = parsed.find((r) => r[0] === 'authorized-key' && r[4] === stray.fingerprint);
    expect(strayRow?.[5]).toBe('unknown');
    expect(strayRow?.[6]).toBe('true');
  });

  it('serves the report over the API as JSON and CSV, and its own commands show up in the next report', async () => {
    const app = createApp({ deps });
    const token = await tokenFor(deps, admin.user, ['audit:read']);
    const json = await app.request(`/api/v1/audit/report?server=${server.name}`, { headers: bearer(token) });
    expect(json.status).toBe(200);
    const body = (await json.json()) as {
      authorizedKeys: { fingerprint: string; flagged: boolean }[];
      commands: { command: string }[];
    };
    expect(body.authorizedKeys).toContainEqual(
      expect.objectContaining({ fingerprint: stray.fingerprint, flagged: true }),
    );
    expect(body.commands.map((c) => c.command)).toContain('sh (audit accounts)');

    const csv = await app.request(`/api/v1/audit/report?server=${server.name}&format=csv&collect=false`, {
      headers: bearer(token),
    });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const rows = parseCsv(await csv.text());
    expect(rows[0]).toEqual([...CSV_COLUMNS]);
    expect(rows.some((r) => r[0] === 'key' && r[4] === service.key.fingerprint)).toBe(true);

    const denied = await app.request(`/api/v1/audit/report?server=${server.name}`, {
      headers: bearer(await tokenFor(deps, alice.user, ['inventory:read'])),
    });
    expect(denied.status).toBe(403);
  });
});
