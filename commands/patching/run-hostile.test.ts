import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { type SshdHandle, sshdUnavailableReason, startSshd } from '../../test/sshd.js';
import { createProjectRow, uniqueHandle } from '../approvals/testing.js';
import { createTargetFactory } from '../scanning/target-factory.js';
import { insertTestServer } from '../scanning/testing.js';
import { parsePatchPolicy } from './policy.js';
import { executeRun } from './run.js';
import { createSimFleet, insertScheduledPlan, insertSshServer } from './run-testing.js';

/**
 * Hostile package names and versions in a plan never reach a shell: the run refuses them before
 * any command (on simulated hosts, and on this machine through the local target), and what does go
 * to a shell (policy commands and checks) arrives as exactly the words written, through a real
 * sshd's shell.
 */
const db = useTestDatabase('patch-hostile');
const canary = `/tmp/warden-pwned-${process.pid}`;
const HOSTILE: [string, string][] = [
  [`x; touch ${canary}`, '1.0'],
  [`$(touch ${canary})`, '1.0'],
  ['`touch /tmp/warden-pwned`', '1.0'],
  ['pkg\nrm -rf /', '1.0'],
  ['pаckage', '1.0'], // Cyrillic а
  ['-oAPT::Get::AllowUnauthenticated=true', '1.0'],
  ['curl', `1.0; touch ${canary}`],
  ['curl', '1.0$(id)'],
  ['curl', '1.0\n2.0'],
];

let deps: TestDeps;
let projectId: number;

beforeAll(async () => {
  projectId = (await createProjectRow(db.current.sql, uniqueHandle('hostile'))).id;
});
afterAll(() => rmSync(canary, { force: true }));

describe('hostile plan items', () => {
  it('are refused before any command runs, on every server, and the refusal says what was wrong', async () => {
    const fleet = createSimFleet();
    deps = createTestDeps(db.current.sql, { targets: fleet });
    const servers = [];
    for (const [index, [pkg, version]] of HOSTILE.entries()) {
      const name = uniqueHandle(`h${index}`);
      fleet.add({ name, installed: {} });
      servers.push({
        serverId: await insertTestServer(db.current.sql, { name, projectId }),
        ring: 0,
        packages: [{ package: pkg, from: '0.9', to: version }],
      });
    }
    const planId = await insertScheduledPlan(db.current.sql, {
      projectId,
      policy: { rings: [{ name: 'all', match: 'rest', maxConcurrency: 3, errorThreshold: 100 }] },
      servers,
      at: deps.clock.now(),
    });
    const result = await executeRun(deps, planId);
    expect(result.outcome).toBe('failed');
    const rows = await db.current.sql<{ state: string; error: string }[]>`
      select state, error from patch_run_servers where plan_id = ${planId} order by position`;
    expect(rows.map((r) => r.state)).toEqual(Array(HOSTILE.length).fill('failed'));
    for (const row of rows) expect(row.error).toMatch(/is not a valid Debian (package name|version)/);
    for (const host of fleet.hosts.values()) {
      expect(host.installCalls).toBe(0);
      // Refused before the first command: nothing reached the host at all.
      expect(host.execs).toEqual([]);
    }
  });

  it('are refused on this machine through the local target, and nothing they carry is executed', async () => {
    deps = createTestDeps(db.current.sql, { targets: createTargetFactory() });
    const name = uniqueHandle('localhost');
    const serverId = await insertTestServer(db.current.sql, { name, projectId, provider: 'local' });
    for (const [pkg, version] of HOSTILE) {
      const planId = await insertScheduledPlan(db.current.sql, {
        projectId,
        policy: { rings: [{ name: 'all', match: 'rest' }], reboot: { rule: 'never' } },
        servers: [{ serverId, ring: 0, packages: [{ package: pkg, from: '0.9', to: version }] }],
        at: deps.clock.now(),
      });
      const result = await executeRun(deps, planId);
      expect(result.servers).toEqual([{ server: name, state: 'failed' }]);
    }
    expect(existsSync(canary)).toBe(false);
    expect(existsSync('/tmp/warden-pwned')).toBe(false);
  });

  it('cannot hide a newline or other control character in a policy command', () => {
    expect(() => parsePatchPolicy({ preCommands: [['systemctl', 'stop', 'app\nrm -rf /']] })).toThrow(
      /control characters/,
    );
  });
});

const sshReason = sshdUnavailableReason();
describe.skipIf(Boolean(sshReason))(
  `words sent through sshd's shell${sshReason ? ` (skipped: ${sshReason})` : ''}`,
  () => {
    let sshd: SshdHandle;
    beforeAll(async () => {
      sshd = await startSshd({ users: ['root'], rootLogin: true });
    });
    afterAll(async () => {
      await sshd?.stop();
    });

    it('arrive exactly as written in pre-commands and checks, quotes, $(), backticks and unicode included', async () => {
      const words = [
        `; touch ${canary}`,
        `$(touch ${canary})`,
        '`id`',
        `it's "quoted"`,
        'ünïcødé ✓ 雪',
        '--help',
        '*',
        '~root',
        '$HOME',
      ];
      const targets = createTargetFactory({ ssh: { connectTimeoutMs: 5_000 } });
      deps = createTestDeps(db.current.sql, { targets });
      const name = uniqueHandle('ssh-quote');
      const serverId = await insertSshServer(db.current.sql, deps, { name, projectId, sshd, user: 'root' });
      const planId = await insertScheduledPlan(db.current.sql, {
        projectId,
        policy: {
          rings: [{ name: 'all', match: 'rest' }],
          reboot: { rule: 'never' },
          preCommands: [['printf', '%s|', ...words]],
          // A check that only passes when the shell handed printf every word untouched.
          checks: [
            {
              name: 'words intact',
              argv: ['printf', '%s|', ...words],
              expect: { exitCode: 0, stdoutIncludes: `${words.join('|')}|` },
            },
          ],
        },
        // A package that is surely installed, at the version it has: the install is a no-op.
        servers: [{ serverId, ring: 0, packages: [{ package: 'dpkg', from: '0', to: installedDpkg() }] }],
        at: deps.clock.now(),
      });
      const result = await executeRun(deps, planId);
      await targets.close();
      const [row] = await db.current.sql<
        { state: string; error: string | null; steps: { detail: string }[] }[]
      >`
      select state, error, steps from patch_run_servers where plan_id = ${planId}`;
      expect(row!.error).toBeNull();
      expect(row!.steps.map((s) => s.detail)).toContain('check "words intact" passed');
      expect(result.outcome).toBe('succeeded');
      expect(existsSync(canary)).toBe(false);
    });
  },
);

/** The installed dpkg version, read outside Warden the way a fixture is prepared. */
function installedDpkg(): string {
  return execFileSync('dpkg-query', ['-W', '--showformat', '$' + '{Version}', 'dpkg'], {
    encoding: 'utf8',
  }).trim();
}
