import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reply } from '../../bot/chat/model.js';
import { seed } from '../../storage/seed.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { acquireMachineLock } from '../../test/machine-lock.js';
import { type SshdHandle, sshdUnavailableReason, startSshd } from '../../test/sshd.js';
import { createActor, createProjectRow } from '../approvals/testing.js';
import { createRegistry } from '../index.js';
import type { Actor } from '../rbac/authorize.js';
import { handleInteraction } from '../router.js';
import { startScan } from './scan.js';
import { createTargetFactory, type TargetFactory } from './target-factory.js';
import { insertTestServer } from './testing.js';

/**
 * Real scans: this machine through the local target (the embedded demo's path, typed in the
 * console as alice), then the same machine through a private OpenSSH sshd on loopback.
 */
const db = useTestDatabase('scan-real');
const aptReason =
  spawnSync('sh', ['-c', 'command -v apt-get']).status === 0 ? null : 'apt-get is not installed here';
const sshReason = aptReason ?? sshdUnavailableReason();
if (sshReason) console.warn(`ssh scan tests skipped: ${sshReason}`);

let deps: TestDeps;
let targets: TargetFactory;
let localFindings = 0;

let releaseApt: () => void = () => {};
// The real apt patch test installs a package on this machine: don't count updates while it does.
beforeAll(async () => {
  releaseApt = await acquireMachineLock('apt');
  targets = createTargetFactory({ ssh: { connectTimeoutMs: 3_000 } });
  deps = createTestDeps(db.current.sql, { targets });
}, 6 * 60_000);
afterAll(async () => {
  releaseApt();
  await targets?.close();
});

async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, withinMs = 60_000): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${withinMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const openCount = async (server: string) =>
  (
    await db.current.sql<{ n: number }[]>`
      select count(*)::int as n from findings_open f join servers s on s.id = f.server_id where s.name = ${server}`
  )[0]!.n;

describe.skipIf(Boolean(aptReason))(
  `scanning this machine${aptReason ? ` (skipped: ${aptReason})` : ''}`,
  () => {
    it('scans localhost for real from the console demo and lists its real pending apt updates', async () => {
      await seed(db.current.sql, deps, { admins: [], demo: true });
      const registry = createRegistry();
      const say = (text: string) =>
        handleInteraction(
          {
            kind: 'command',
            text,
            dedupeKey: `demo-${text}-${Math.random()}`,
            user: { platform: 'console', externalId: 'alice' },
            channel: 'demo',
            receivedAt: deps.clock.now(),
          },
          deps,
          registry,
        );
      const started = (await say('scan localhost')).reply!;
      expect(started.header).toBe('Scanning 1 server…');
      const scan = await waitFor(async () => {
        const [row] = await db.current.sql<
          { status: string; method: string; problems: { severity: string }[] }[]
        >`
          select c.status, c.method, c.problems from scans c join scan_batches b on b.id = c.batch_id
          where b.status = 'done' and b.scope_value = 'localhost'`;
        return row;
      }, 'the localhost scan');
      expect(scan.status).toBe('succeeded');
      expect(scan.method).toBe('local: apt-get -s dist-upgrade');
      expect(scan.problems.filter((p) => p.severity === 'error')).toEqual([]);
      localFindings = await openCount('localhost');
      const [state] = await db.current.sql<{ openTotal: number }[]>`
      select open_total as "openTotal" from server_scan_state st join servers s on s.id = st.server_id
      where s.name = 'localhost'`;
      expect(state!.openTotal).toBe(localFindings);

      const findings = (await say('findings localhost')).reply as Reply;
      expect(findings.header).toBe(`Pending updates on localhost: ${localFindings}`);
      expect(findings.context?.[0]).toBe('last good scan just now');
      if (localFindings > 0) expect(findings.items?.[0]?.text).toMatch(/ → /);
    });
  },
);

describe.skipIf(Boolean(sshReason))(`scanning over ssh${sshReason ? ` (skipped: ${sshReason})` : ''}`, () => {
  let sshd: SshdHandle;
  let operator: Actor;
  let projectId: number;
  let silent: net.Server;
  let closedPort: number;

  beforeAll(async () => {
    sshd = await startSshd({ users: ['wardenscan'] });
    await db.current.sql`
      insert into secrets (name, purpose, sealed)
      values ('ssh-key:default', 'ssh-service-key', ${deps.vault.seal(sshd.clientKey.privateKey, 'ssh-key:default')})`;
    projectId = (await createProjectRow(db.current.sql, 'lab')).id;
    operator = await createActor(db.current.sql, 'oona', [['operator', projectId]]);
    silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    closedPort = (closed.address() as net.AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const ssh = { projectId, address: '127.0.0.1', connection: { user: 'wardenscan' } };
    await insertTestServer(db.current.sql, { name: 'self-ssh', port: sshd.port, ...ssh });
    await insertTestServer(db.current.sql, { name: 'dead-port', port: closedPort, ...ssh });
    await insertTestServer(db.current.sql, {
      name: 'silent',
      port: (silent.address() as net.AddressInfo).port,
      ...ssh,
    });
  });
  afterAll(async () => {
    await sshd?.stop();
    silent?.close();
  });

  it('scans this machine through sshd, pins its host key on first contact, and finds what the local scan found', async () => {
    const started = await startScan(deps, operator, { scope: 'self-ssh' });
    const outcome = (await started.done)!;
    expect(outcome.outcomes[0]).toMatchObject({ status: 'succeeded' });
    expect(await openCount('self-ssh')).toBe(localFindings);
    const [server] = await db.current.sql<{ hostKey: string }[]>`
      select connection->>'hostKey' as "hostKey" from servers where name = 'self-ssh'`;
    expect(server!.hostKey).toBe(sshd.hostKeyFingerprint);
    const [event] = await db.current.sql<{ data: { fingerprint: string } }[]>`
      select data from audit_events where action = 'server.host-key-recorded' and subject_id = 'self-ssh'`;
    expect(event!.data.fingerprint).toBe(sshd.hostKeyFingerprint);
  });

  it('goes on past a closed port and a host that never answers, recording why each failed', async () => {
    const started = await startScan(deps, operator, { scope: 'lab' });
    const began = performance.now();
    const outcome = (await started.done)!;
    expect(performance.now() - began).toBeLessThan(20_000);
    const byServer = Object.fromEntries(outcome.outcomes.map((o) => [o.serverName, o.errorKind ?? o.status]));
    expect(byServer).toEqual({ 'self-ssh': 'succeeded', 'dead-port': 'unreachable', silent: 'timeout' });
    const rows = await db.current.sql<{ name: string; kind: string; message: string }[]>`
      select s.name, st.last_error_kind as kind, st.last_error_message as message
      from server_scan_state st join servers s on s.id = st.server_id where st.last_scan_status = 'failed'
      order by s.name`;
    expect(rows.map((r) => [r.name, r.kind])).toEqual([
      ['dead-port', 'unreachable'],
      ['silent', 'timeout'],
    ]);
    expect(rows[1]!.message).toMatch(/did not complete the SSH login/);
  });

  it('refuses a changed host key: nothing sent, the pin kept, an alert on the trail and in the outbox', async () => {
    const forged = `SHA256:${'A'.repeat(43)}`;
    await db.current.sql`
      update servers set connection = connection || ${db.current.sql.json({ hostKey: forged })} where name = 'self-ssh'`;
    const findingsBefore = await openCount('self-ssh');
    const logins = sshd.count(/Accepted publickey for wardenscan/);
    const started = await startScan(deps, operator, { scope: 'self-ssh' });
    const outcome = (await started.done)!;
    expect(outcome.outcomes[0]).toMatchObject({ status: 'failed', errorKind: 'host-key-changed' });
    expect(sshd.count(/Accepted publickey for wardenscan/)).toBe(logins);
    const [server] = await db.current.sql<{ hostKey: string }[]>`
      select connection->>'hostKey' as "hostKey" from servers where name = 'self-ssh'`;
    expect(server!.hostKey).toBe(forged);
    expect(await openCount('self-ssh')).toBe(findingsBefore);
    const [event] = await db.current.sql<{ data: { expected: string; actual: string } }[]>`
      select data from audit_events where action = 'server.host-key-changed' and subject_id = 'self-ssh'`;
    expect(event!.data).toMatchObject({ expected: forged, actual: sshd.hostKeyFingerprint });
    const [alert] = await db.current.sql<{ payload: { channelRole: string; reply: Reply } }[]>`
      select o.payload from outbox o join audit_events e on e.seq = o.audit_seq
      where e.action = 'server.host-key-changed'`;
    expect(alert!.payload.channelRole).toBe('security');
    expect(alert!.payload.reply.header).toBe('Host key of self-ssh changed: connection refused');
  });

  it('refuses an unpinned host when first-contact trust is off for it', async () => {
    await insertTestServer(db.current.sql, {
      name: 'strict-ssh',
      projectId,
      address: '127.0.0.1',
      port: sshd.port,
      connection: { user: 'wardenscan', trustOnFirstUse: false },
    });
    const outcome = (await (await startScan(deps, operator, { scope: 'strict-ssh' })).done)!;
    expect(outcome.outcomes[0]).toMatchObject({ status: 'failed', errorKind: 'host-key-unknown' });
    const [server] = await db.current.sql<{ hostKey: string | null }[]>`
      select connection->>'hostKey' as "hostKey" from servers where name = 'strict-ssh'`;
    expect(server!.hostKey).toBeNull();
  });
});
