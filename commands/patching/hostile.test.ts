import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { finding } from '../scanning/testing.js';
import { buildPlan } from './build.js';
import { refusalOf } from './select.js';
import { createTestFleet, patchApprovalSubjectMap } from './testing.js';

const db = useTestDatabase('patch-hostile');
let deps: TestDeps;

beforeAll(() => {
  deps = createTestDeps(db.current.sql, { approvalSubjects: patchApprovalSubjectMap() });
});

const sec = { classification: 'security' as const, severity: 'critical' as const };
/** What a compromised or broken host could print as pending updates. */
const HOSTILE = [
  finding('; rm -rf /', { ...sec, installedVersion: '1.0', candidateVersion: '1.1' }),
  finding('curl$(reboot)', { ...sec, installedVersion: '7.88.1-10', candidateVersion: '7.88.1-11' }),
  finding('openssl', { ...sec, installedVersion: '3.0.11-1', candidateVersion: '3.0.13-1\n; reboot' }),
  finding('bash', { ...sec, installedVersion: '5.2.15-2', candidateVersion: '5.2.15-3`id`' }),
  finding('libc6', { ...sec, installedVersion: '2.36-9', candidateVersion: '2.36-10', arch: 'amd64 ; ls' }),
  finding('-oProxyCommand=sh', { ...sec, installedVersion: '1', candidateVersion: '2' }),
  finding('ﬁle\u202e', { ...sec, installedVersion: '5.44-3', candidateVersion: '5.44-4' }),
  finding('sudo', { ...sec, installedVersion: '$(id)', candidateVersion: '1.9.13p3-1' }),
];
const ZLIB = finding('zlib1g', {
  ...sec,
  installedVersion: '1:1.2.13.dfsg-1',
  candidateVersion: '1:1.2.13.dfsg-2',
  arch: 'amd64',
});

describe('hostile package names and versions from scan output', () => {
  it('are stored as findings but refused before they can enter a plan, each with a reason', async () => {
    const fleet = await createTestFleet(deps, {
      servers: [{ name: 'evil-1', findings: [...HOSTILE, ZLIB] }],
      policy: { windows: [{ cron: '0 2 * * 6', durationMinutes: 60 }] },
    });
    const [stored] = await deps.sql<{ n: number }[]>`
      select count(*)::int as n from findings_open where server_id = ${fleet.servers.get('evil-1')!}`;
    expect(stored!.n).toBe(HOSTILE.length + 1);
    const built = await buildPlan(deps, fleet.planner, { project: fleet.project.slug });
    if (built.outcome !== 'created') throw new Error(built.outcome);
    expect(built.items.map((i) => [i.package, i.arch, i.fromVersion, i.toVersion])).toEqual([
      ['zlib1g', 'amd64', '1:1.2.13.dfsg-1', '1:1.2.13.dfsg-2'],
    ]);
    const refused = built.plan.notes.refused!;
    expect(refused).toHaveLength(HOSTILE.length);
    for (const r of refused) {
      expect(r.reason).toMatch(/is not a valid Debian|not valid/);
      // What people are shown of it is printable ASCII, never the raw bytes.
      expect(r.package).toMatch(/^[\x20-\x7e]*$/);
      expect(r.reason).not.toMatch(/[\n\u202e]/);
    }
    const [event] = await deps.sql<{ data: { refused: number } }[]>`
      select data from audit_events where action = 'patch.plan.created' and subject_id = ${String(built.plan.id)}`;
    expect(event!.data.refused).toBe(HOSTILE.length);
  });

  it('leave nothing to plan when they are all there is', async () => {
    const fleet = await createTestFleet(deps, { servers: [{ name: 'evil-2', findings: HOSTILE }] });
    const built = await buildPlan(deps, fleet.planner, { project: fleet.project.slug, kind: 'now' });
    expect(built.outcome).toBe('empty');
    if (built.outcome === 'empty') expect(built.notes.refused).toHaveLength(HOSTILE.length);
    const [plans] = await deps.sql<{ n: number }[]>`
      select count(*)::int as n from patch_plans pl join projects p on p.id = pl.project_id where p.slug = ${fleet.project.slug}`;
    expect(plans!.n).toBe(0);
  });

  it('are checked by each package family’s rules, and cloud patch names by the patch services’ rules', () => {
    const ok = { installedVersion: '1.0-1', candidateVersion: '1.1-1', arch: 'x86_64' };
    expect(refusalOf('rhel', { package: 'openssl-libs', ...ok })).toBeNull();
    expect(refusalOf('rhel', { package: 'openssl libs', ...ok })).toMatch(/not a valid RPM package name/);
    expect(
      refusalOf('alpine', {
        package: 'busybox',
        installedVersion: '1.36.1-r5',
        candidateVersion: '1.36.1-r7',
        arch: '',
      }),
    ).toBeNull();
    expect(
      refusalOf('alpine', {
        package: 'busybox',
        installedVersion: '1.36.1-r5',
        candidateVersion: '1.36.1',
        arch: '',
      }),
    ).toMatch(/Alpine version/);
    expect(
      refusalOf('windows', { package: 'KB5034441', installedVersion: '', candidateVersion: '1', arch: '' }),
    ).toBeNull();
    expect(
      refusalOf('windows', { package: 'KB5034441*', installedVersion: '', candidateVersion: '1', arch: '' }),
    ).not.toBeNull();
    expect(
      refusalOf('unknown', { package: 'x', installedVersion: '1', candidateVersion: '$(id)', arch: '' }),
    ).not.toBeNull();
  });
});
