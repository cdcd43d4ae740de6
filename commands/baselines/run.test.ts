import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reply } from '../../bot/chat/model.js';
import { getServerByName, type Server } from '../../storage/inventory.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { type SshdHandle, sshdUnavailableReason, startSshd } from '../../test/sshd.js';
import { createProjectRow } from '../approvals/testing.js';
import { createTargetFactory, type TargetFactory } from '../scanning/target-factory.js';
import { insertTestServer } from '../scanning/testing.js';
import { DEFAULT_LINUX_BASELINE } from './default-linux.js';
import { runBaseline } from './run.js';
import { type Baseline, Baseline as BaselineSchema } from './types.js';

/**
 * Baselines on real machines: this one through the local target (sshd -T as root) and the same
 * machine through a private OpenSSH sshd, where the checks run as an unprivileged login and read
 * the harness's sshd_config (the path given in the check data). Drift alerts once.
 */
const db = useTestDatabase('baselines-run');
const DAY = 86_400_000;
const sshdBinary = existsSync('/usr/sbin/sshd') || spawnSync('sh', ['-c', 'command -v sshd']).status === 0;
const sshReason = sshdUnavailableReason();
if (sshReason) console.warn(`baseline ssh tests skipped: ${sshReason}`);

let deps: TestDeps;
let targets: TargetFactory;
let projectId: number;

beforeAll(async () => {
  targets = createTargetFactory({ ssh: { connectTimeoutMs: 5_000 } });
  deps = createTestDeps(db.current.sql, { targets });
  projectId = (
    await createProjectRow(db.current.sql, 'base', { compliance: { baseline: { openTickets: false } } })
  ).id;
});
afterAll(async () => {
  await targets?.close();
});

/** The default baseline with the sshd checks reading `path` instead of the system config. */
function pointedAt(path: string): Baseline {
  return BaselineSchema.parse({
    ...DEFAULT_LINUX_BASELINE,
    checks: DEFAULT_LINUX_BASELINE.checks.map((c) =>
      c.id.startsWith('ssh.') ? { ...c, argv: [...c.argv.slice(0, -1), path] } : c,
    ),
  });
}

async function server(name: string): Promise<Server> {
  return (await getServerByName(db.current.sql, name))!;
}

const driftEvents = async (name: string) =>
  db.current.sql<{ data: { check: string } }[]>`
    select data from audit_events where action = 'baseline.drifted' and subject_id = ${name} order by seq`;

describe.skipIf(!sshdBinary)('the default baseline on this machine (local target)', () => {
  it('reads the real sshd settings with sshd -T and records every check with its evidence', async () => {
    await insertTestServer(db.current.sql, { name: 'this-host', projectId, provider: 'local' });
    const outcome = await runBaseline(deps, await server('this-host'), { triggeredBy: 'test' });
    expect(outcome.status).toBe('succeeded');
    expect(outcome.results.map((r) => r.checkId)).toEqual(DEFAULT_LINUX_BASELINE.checks.map((c) => c.id));

    // What sshd itself says, read independently of Warden.
    const effective = execFileSync('sshd', ['-T', '-f', '/etc/ssh/sshd_config'], { encoding: 'utf8' });
    const value = (key: string) => new RegExp(`^${key} (.*)$`, 'm').exec(effective)?.[1];
    const byId = Object.fromEntries(outcome.results.map((r) => [r.checkId, r]));
    expect(byId['ssh.root-login']!.status).toBe(value('permitrootlogin') === 'no' ? 'pass' : 'fail');
    expect(byId['ssh.root-login']!.evidence).toContain(`permitrootlogin ${value('permitrootlogin')}`);
    expect(byId['ssh.password-auth']!.status).toBe(
      value('passwordauthentication') === 'no' ? 'pass' : 'fail',
    );
    const auditd = spawnSync('pgrep', ['-x', 'auditd']).status === 0;
    if (!existsSync('/run/systemd/system'))
      expect(byId['audit.auditd']!.status).toBe(auditd ? 'pass' : 'fail');

    const states = await db.current.sql<{ checkId: string; status: string }[]>`
      select check_id as "checkId", status from baseline_state where server_id = ${(await server('this-host')).id}`;
    expect(states).toHaveLength(5);
    const history = await db.current.sql<{ n: number }[]>`
      select count(*)::int as n from baseline_results where run_id = ${outcome.runId}`;
    expect(history[0]!.n).toBe(5);
  });

  it('passes hostile text to a check as one literal argument, on the local target', async () => {
    const marker = `/tmp/warden-baseline-pwned-${process.pid}`;
    const hostile = `; rm -rf / $(touch ${marker}) \`touch ${marker}\`\nnext line ünïcødé 'quote"`;
    const baseline = BaselineSchema.parse({
      name: 'hostile',
      title: 'hostile',
      families: ['debian'],
      checks: [
        { id: 'echo', title: 'echo', level: 1, argv: ['printf', '%s', hostile], pass: { exitCode: 0 } },
      ],
    });
    const outcome = await runBaseline(deps, await server('this-host'), { baseline, triggeredBy: 'test' });
    expect(outcome.results[0]!.status).toBe('pass');
    expect(outcome.results[0]!.evidence).toBe(hostile.split('\n')[0]!.trim());
    expect(existsSync(marker)).toBe(false);
  });
});

describe.skipIf(Boolean(sshReason))(
  `the default baseline over ssh${sshReason ? ` (skipped: ${sshReason})` : ''}`,
  () => {
    let sshd: SshdHandle;
    let config: string;

    beforeAll(async () => {
      sshd = await startSshd({ users: ['wardenbase'] });
      config = `${sshd.dir}/sshd_config`;
      await db.current.sql`
      insert into secrets (name, purpose, sealed)
      values ('ssh-key:default', 'ssh-service-key', ${deps.vault.seal(sshd.clientKey.privateKey, 'ssh-key:default')})`;
      await insertTestServer(db.current.sql, {
        name: 'sshd-host',
        projectId,
        address: '127.0.0.1',
        port: sshd.port,
        connection: { user: 'wardenbase' },
      });
    });
    afterAll(async () => {
      await sshd?.stop();
    });

    it('reads the harness sshd config as an unprivileged login: root login and passwords are off', async () => {
      // The harness runs sshd with PermitRootLogin no and PasswordAuthentication no.
      expect(readFileSync(config, 'utf8')).toMatch(/^PermitRootLogin no$/m);
      const outcome = await runBaseline(deps, await server('sshd-host'), {
        baseline: pointedAt(config),
        triggeredBy: 'test',
      });
      expect(outcome.status).toBe('succeeded');
      const byId = Object.fromEntries(outcome.results.map((r) => [r.checkId, r]));
      expect(byId['ssh.root-login']).toMatchObject({ status: 'pass', evidence: 'permitrootlogin no' });
      expect(byId['ssh.password-auth']).toMatchObject({
        status: 'pass',
        evidence: 'passwordauthentication no',
      });
      // Not root and no sudo: the firewall rules cannot be read, which is "unknown", not a failure.
      if (spawnSync('sh', ['-c', 'command -v nft || command -v iptables']).status === 0) {
        expect(byId['firewall.active']!.status).toBe('error');
      }
      expect(outcome.drifted).toEqual([]);
    });

    it('alerts a drift once: the check that passed now fails, and two later runs say nothing more', async () => {
      const original = readFileSync(config, 'utf8');
      writeFileSync(config, `PermitRootLogin yes\n${original.replace(/^PermitRootLogin no\n/m, '')}`);
      try {
        deps.clock.advance(DAY);
        const first = await runBaseline(deps, await server('sshd-host'), {
          baseline: pointedAt(config),
          triggeredBy: 'scan',
        });
        expect(first.drifted).toEqual(['ssh.root-login']);
        expect(first.results.find((r) => r.checkId === 'ssh.root-login')!.evidence).toContain(
          'permitrootlogin yes',
        );

        for (const _day of [1, 2]) {
          deps.clock.advance(DAY);
          const later = await runBaseline(deps, await server('sshd-host'), {
            baseline: pointedAt(config),
            triggeredBy: 'scan',
          });
          expect(later.results.find((r) => r.checkId === 'ssh.root-login')!.status).toBe('fail');
          expect(later.drifted).toEqual([]);
        }
        expect((await driftEvents('sshd-host')).map((e) => e.data.check)).toEqual(['ssh.root-login']);
        // One change-only alert to the project's channel (the compliance capability's), keyed by the drift.
        const posts = await db.current.sql<{ payload: { reply: Reply; projectId: number } }[]>`
        select o.payload from outbox o join audit_events e on e.seq = o.audit_seq
        where e.action = 'compliance.alerted' and o.kind = 'channel-post'`;
        expect(posts).toHaveLength(1);
        expect(posts[0]!.payload.projectId).toBe(projectId);
        expect(posts[0]!.payload.reply.items?.[0]?.text).toContain(
          'sshd-host: baseline check "SSH root login is off"',
        );
        const alerts = await db.current.sql<{ key: string }[]>`
        select alert_key as key from compliance_alerts where kind = 'baseline-drift'`;
        expect(alerts).toHaveLength(1);
        expect(alerts[0]!.key).toMatch(/^baseline-drift:\d+:ssh\.root-login:/);
        // The compliance standard sees the failing check.
        const [summary] = await db.current.sql<{ failing: string[] }[]>`
        select failing_checks as failing from server_baseline_state
        where server_id = ${(await server('sshd-host')).id}`;
        expect(summary!.failing).toContain('ssh.root-login');

        const [state] = await db.current.sql<{ status: string; since: Date; lastPassedAt: Date }[]>`
        select status, since, last_passed_at as "lastPassedAt" from baseline_state
        where check_id = 'ssh.root-login' and server_id = ${(await server('sshd-host')).id}`;
        expect(state!.status).toBe('fail');
        expect(state!.since.getTime()).toBe(deps.clock.now().getTime() - 2 * DAY);
      } finally {
        writeFileSync(config, original);
      }
      // Fixed again: the check passes, the state says since when, and a later drift would alert anew.
      deps.clock.advance(DAY);
      const fixed = await runBaseline(deps, await server('sshd-host'), {
        baseline: pointedAt(config),
        triggeredBy: 'scan',
      });
      expect(fixed.restored).toEqual(['ssh.root-login']);
    });

    it('passes hostile text to a check as one literal argument over ssh too', async () => {
      const marker = `/tmp/warden-baseline-ssh-pwned-${process.pid}`;
      const hostile = `; touch ${marker} $(touch ${marker}) \`touch ${marker}\` | & ' " ünïcødé`;
      const baseline = BaselineSchema.parse({
        name: 'hostile',
        title: 'hostile',
        families: ['debian'],
        checks: [
          { id: 'echo', title: 'echo', level: 1, argv: ['printf', '%s', hostile], pass: { exitCode: 0 } },
        ],
      });
      const outcome = await runBaseline(deps, await server('sshd-host'), { baseline, triggeredBy: 'test' });
      expect(outcome.results[0]).toMatchObject({ status: 'pass', evidence: hostile });
      expect(existsSync(marker)).toBe(false);
    });

    it('records an unreachable server as a failed run without touching the check states', async () => {
      await insertTestServer(db.current.sql, {
        name: 'gone-host',
        projectId,
        address: '127.0.0.1',
        port: 1,
        connection: { user: 'wardenbase' },
      });
      const outcome = await runBaseline(deps, await server('gone-host'), { triggeredBy: 'scan' });
      expect(outcome).toMatchObject({ status: 'failed', results: [] });
      expect(outcome.error).toBeTruthy();
      const states = await db.current
        .sql`select 1 from baseline_state where server_id = ${(await server('gone-host')).id}`;
      expect(states).toHaveLength(0);
    });
  },
);
