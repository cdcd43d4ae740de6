import { describe, expect, it } from 'vitest';
import { parseCheckUpdate, parseNeedsRestarting, parseRhelScan, parseUpdateinfoList } from './dnf.js';
import { evrCompare, parseNevra, rpmVersionCompare } from './rpm-version.js';
import { cutInside, fixture, ran } from './test-helpers.js';
import type { CommandOutputs } from './types.js';

function rocky(overrides: Partial<Record<string, ReturnType<typeof ran>>> = {}): CommandOutputs {
  return {
    pm: ran('dnf\n'),
    'rpm-installed': ran(fixture('rocky-9-rpm-installed.stdout')),
    'check-update': ran(fixture('rocky-9-check-update.stdout'), 100),
    updateinfo: ran(fixture('rocky-9-updateinfo.stdout')),
    'updateinfo-cves': ran(fixture('rocky-9-updateinfo-cves.stdout')),
    'needs-restarting': ran(fixture('rocky-9-needs-restarting.stdout'), 1),
    ...overrides,
  } as CommandOutputs;
}

describe('parseRhelScan on Rocky Linux 9 (dnf, documented format)', () => {
  it('joins check-update, rpm -qa and updateinfo into exact findings', () => {
    const result = parseRhelScan(rocky());
    expect(result.method).toBe('dnf check-update');
    expect(result.rebootRequired).toBe(true);
    expect(result.problems).toEqual([]);
    const security = (
      pkg: string,
      installed: string,
      candidate: string,
      severity: string,
      cves: string[],
      advisory: string,
      repo: string,
      arch = 'x86_64',
    ) => ({
      package: pkg,
      installedVersion: installed,
      candidateVersion: candidate,
      classification: 'security',
      severity,
      cves,
      advisories: [advisory],
      source: repo,
      arch,
    });
    expect(result.findings).toEqual([
      security(
        'bind-libs',
        '32:9.16.23-15.el9',
        '32:9.16.23-18.el9_4.6',
        'important',
        ['CVE-2024-1737', 'CVE-2024-1975'],
        'RLSA-2024:5312',
        'appstream',
      ),
      security(
        'bind-license',
        '32:9.16.23-15.el9',
        '32:9.16.23-18.el9_4.6',
        'important',
        ['CVE-2024-1737', 'CVE-2024-1975'],
        'RLSA-2024:5312',
        'appstream',
        'noarch',
      ),
      security(
        'curl',
        '7.76.1-29.el9_4',
        '7.76.1-29.el9_4.1',
        'moderate',
        ['CVE-2024-2398'],
        'RLSA-2024:5654',
        'baseos',
      ),
      {
        package: 'htop',
        installedVersion: '3.2.2-1.el9',
        candidateVersion: '3.3.0-1.el9',
        classification: 'other',
        severity: 'unknown',
        cves: [],
        source: 'epel',
        arch: 'x86_64',
      },
      {
        ...security(
          'kernel',
          '5.14.0-427.28.1.el9_4',
          '5.14.0-427.33.1.el9_4',
          'moderate',
          ['CVE-2024-26923'],
          'RLSA-2024:5928',
          'baseos',
        ),
        advisories: ['RLBA-2024:5101', 'RLSA-2024:5928'],
        rebootRequired: true,
      },
      {
        ...security(
          'kernel-core',
          '5.14.0-427.28.1.el9_4',
          '5.14.0-427.33.1.el9_4',
          'moderate',
          ['CVE-2024-26923'],
          'RLSA-2024:5928',
          'baseos',
        ),
        rebootRequired: true,
      },
      security(
        'libcurl',
        '7.76.1-29.el9_4',
        '7.76.1-29.el9_4.1',
        'moderate',
        ['CVE-2024-2398'],
        'RLSA-2024:5654',
        'baseos',
      ),
      security(
        'openssl',
        '1:3.0.7-25.el9_3',
        '1:3.0.7-27.el9_4',
        'low',
        ['CVE-2024-5535'],
        'RLSA-2024:4366',
        'baseos',
      ),
      security(
        'openssl-libs',
        '1:3.0.7-25.el9_3',
        '1:3.0.7-27.el9_4',
        'low',
        ['CVE-2024-5535'],
        'RLSA-2024:4366',
        'baseos',
      ),
      {
        package: 'python3-dnf-plugin-post-transaction-actions',
        installedVersion: '4.3.0-11.el9',
        candidateVersion: '4.3.0-13.el9_4',
        classification: 'bugfix',
        severity: 'unknown',
        cves: [],
        advisories: ['RLBA-2024:4021'],
        source: 'appstream',
        arch: 'noarch',
      },
      {
        package: 'tzdata',
        installedVersion: '2023c-1.el9',
        candidateVersion: '2024a-1.el9',
        classification: 'bugfix',
        severity: 'unknown',
        cves: [],
        advisories: ['RLBA-2024:1043'],
        source: 'baseos',
        arch: 'noarch',
      },
    ]);
  });

  it('reads an up-to-date server (exit 0, only the empty title line) as no findings', () => {
    const result = parseRhelScan(
      rocky({ 'check-update': ran('\n', 0), updateinfo: ran(''), 'updateinfo-cves': ran('') }),
    );
    expect(result.findings).toEqual([]);
    expect(result.problems).toEqual([]);
  });

  it('keeps complete entries of check-update output cut mid-line and says it was cut', () => {
    const cut = cutInside(fixture('rocky-9-check-update.stdout'), 'openssl-libs.x86_64');
    const result = parseRhelScan(rocky({ 'check-update': ran(cut, null) }));
    expect(result.findings.map((f) => f.package)).toEqual([
      'bind-libs',
      'bind-license',
      'curl',
      'htop',
      'kernel',
      'kernel-core',
      'libcurl',
      'openssl',
    ]);
    expect(result.problems.map((p) => p.kind)).toEqual(['truncated_output']);
  });

  it('marks unknown installed versions when rpm -qa is missing', () => {
    const result = parseRhelScan(rocky({ 'rpm-installed': ran('') }));
    expect(result.findings[0]!.installedVersion).toBe('');
    expect(result.problems).toMatchObject([
      { kind: 'missing_output', severity: 'warning', commandId: 'rpm-installed' },
    ]);
  });

  it('reports unreachable repositories as an error when check-update failed', () => {
    const stderr =
      "Errors during downloading metadata for repository 'baseos':\n  - Curl error (6): Couldn't resolve host name for https://mirrors.rockylinux.org/mirrorlist?arch=x86_64&repo=BaseOS-9\n" +
      "Error: Failed to download metadata for repo 'baseos': Cannot prepare internal mirrorlist: Curl error (6): Couldn't resolve host name\n";
    const result = parseRhelScan(rocky({ 'check-update': ran('', 1, stderr) }));
    expect(result.findings).toEqual([]);
    expect(result.problems).toMatchObject([
      { kind: 'repos_unreachable', severity: 'error', retryable: true },
    ]);
  });

  it('asks for a retry when another process holds the rpm lock', () => {
    const result = parseRhelScan(
      rocky({ 'check-update': ran('', 200, 'Waiting for process with pid 1312 to finish.\n') }),
    );
    expect(result.problems[0]).toMatchObject({ kind: 'lock_held', severity: 'error', retryable: true });
    expect(result.problems[0]!.message).toContain('process 1312');
  });

  it('tells a human to rebuild a damaged rpm database', () => {
    const stderr =
      'error: db5 error(-30973) from dbenv->failchk: BDB0087 DB_RUNRECOVERY: Fatal error, run database recovery\nError: rpmdb open failed\n';
    const result = parseRhelScan(rocky({ 'check-update': ran('', 1, stderr) }));
    expect(result.problems).toMatchObject([
      { kind: 'rpmdb_broken', severity: 'error', fix: 'rpm --rebuilddb' },
    ]);
  });

  it('leaves the reboot state unknown when needs-restarting is missing', () => {
    const result = parseRhelScan(
      rocky({
        'needs-restarting': ran('', 1, 'No such command: needs-restarting. Please use /usr/bin/dnf --help'),
      }),
    );
    expect(result.rebootRequired).toBeNull();
    expect(result.problems).toMatchObject([{ kind: 'command_missing', severity: 'warning' }]);
  });
});

describe('parseRhelScan on Amazon Linux 2 (yum 3, documented format)', () => {
  it('reads lowercase severities and epochs', () => {
    const result = parseRhelScan({
      pm: ran('yum\n'),
      'rpm-installed': ran(fixture('amzn-2-rpm-installed.stdout')),
      'check-update': ran(fixture('amzn-2-check-update.stdout'), 100),
      updateinfo: ran(fixture('amzn-2-updateinfo.stdout')),
      'updateinfo-cves': ran(fixture('amzn-2-updateinfo-cves.stdout')),
      'needs-restarting': ran(
        'No core libraries or services have been updated since boot-up.\nReboot should not be necessary.\n',
        0,
      ),
    });
    expect(result.method).toBe('yum check-update');
    expect(result.rebootRequired).toBe(false);
    expect(result.problems).toEqual([]);
    expect(
      result.findings.map((f) => [
        f.package,
        f.installedVersion,
        f.candidateVersion,
        f.severity,
        f.cves.join(','),
      ]),
    ).toEqual([
      [
        'kernel',
        '4.14.334-252.552.amzn2',
        '4.14.336-257.562.amzn2',
        'important',
        'CVE-2023-6040,CVE-2023-6817',
      ],
      ['openssl-libs', '1:1.0.2k-24.amzn2.0.11', '1:1.0.2k-24.amzn2.0.12', 'moderate', 'CVE-2023-5678'],
      ['vim-minimal', '2:9.0.2081-1.amzn2.0.1', '2:9.0.2153-1.amzn2.0.1', 'low', ''],
    ]);
  });
});

describe('dnf/yum line parsers', () => {
  it('skips yum noise lines and the obsoletes section', () => {
    const text =
      '\nSecurity: kernel-3.10.0-1160.el7.x86_64 is an installed security update\nbash.x86_64  4.2.46-35.el7_9  updates\nObsoleting Packages\ngrub2.x86_64 1:2.02-0.87.el7 updates\n';
    expect(parseCheckUpdate(ran(text, 100)).entries).toEqual([
      { name: 'bash', arch: 'x86_64', evr: '4.2.46-35.el7_9', repo: 'updates' },
    ]);
  });

  it('reads updateinfo rows of every label and ignores garbage rows', () => {
    const rows = parseUpdateinfoList(
      'RHSA-2024:1 Critical/Sec. a-1-1.x86_64\nRHBA-2024:2 bugfix b-1:2-3.noarch\nFEDORA-EA enhancement c-1-1.x86_64\nX Unknown/Sec. d-1-1.x86_64\nnot a row\nRHSA x/Sec. nonevra\n',
    );
    expect(rows.map((r) => [r.id, r.classification, r.severity, r.name, r.evr])).toEqual([
      ['RHSA-2024:1', 'security', 'critical', 'a', '1-1'],
      ['RHBA-2024:2', 'bugfix', 'unknown', 'b', '1:2-3'],
      ['FEDORA-EA', 'enhancement', 'unknown', 'c', '1-1'],
      ['X', 'security', 'unknown', 'd', '1-1'],
    ]);
  });

  it('needs both the exit code and the words to say a reboot is needed', () => {
    expect(
      parseNeedsRestarting(
        ran('Reboot is required to ensure that your system benefits from these updates.\n', 1),
      ),
    ).toBe(true);
    expect(parseNeedsRestarting(ran('', 1))).toBeNull();
    expect(parseNeedsRestarting(undefined)).toBeNull();
  });
});

describe('rpm version order', () => {
  it.each([
    ['1.0', '1.0', 0],
    ['1.0', '1.1', -1],
    ['1.10', '1.9', 1],
    ['1.0a', '1.0', 1],
    ['1.0~rc1', '1.0', -1],
    ['1.0^git1', '1.0', 1],
    ['1.0^git1', '1.0.1', -1],
    ['2.0', '2.0.', 0],
    ['5.14.0-427.28.1.el9_4', '5.14.0-427.13.1.el9_4', 1],
    ['001', '1', 0],
    ['a', '1', -1],
  ])('compares %s with %s as %i', (a, b, expected) => {
    expect(rpmVersionCompare(a, b)).toBe(expected);
    expect(rpmVersionCompare(b, a)).toBe(-expected || 0);
  });

  it('compares epochs before versions', () => {
    expect(evrCompare('1:1.0-1', '0:9.9-9')).toBe(1);
    expect(evrCompare('1.0-2', '0:1.0-10')).toBe(-1);
  });

  it('splits NEVRA strings with and without epoch', () => {
    expect(parseNevra('openssl-libs-1:3.0.7-27.el9_4.x86_64')).toEqual({
      name: 'openssl-libs',
      evr: '1:3.0.7-27.el9_4',
      arch: 'x86_64',
    });
    expect(parseNevra('python3.11-3.11.5-1.el9.x86_64')).toEqual({
      name: 'python3.11',
      evr: '3.11.5-1.el9',
      arch: 'x86_64',
    });
    expect(parseNevra('nonsense')).toBeNull();
  });
});
