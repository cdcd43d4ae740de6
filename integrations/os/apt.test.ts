import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { detectAptProblems, parseAptList, parseAptSimulate, parseDebianScan, parseDpkgAudit } from './apt.js';
import { parseScan } from './scan.js';
import { cutInside, fixture, ran } from './test-helpers.js';

const SIMULATE = fixture('debian-12-apt-get-simulate.stdout');
const LIST = fixture('debian-12-apt-list.stdout');

describe('parseAptSimulate on output captured from Debian 12', () => {
  const parsed = parseAptSimulate(ran(SIMULATE));

  it('finds every upgraded package with its versions, archives and arch', () => {
    expect(parsed.recognised).toBe(true);
    expect(parsed.problems).toEqual([]);
    expect(parsed.findings).toHaveLength(123);
    const byName = new Map(parsed.findings.map((finding) => [finding.package, finding]));
    expect(byName.get('bash')).toEqual({
      package: 'bash',
      installedVersion: '5.2.15-2+b8',
      candidateVersion: '5.2.15-2+b13',
      classification: 'other',
      severity: 'unknown',
      cves: [],
      source: 'Debian:12.15/oldstable',
      arch: 'amd64',
    });
    expect(byName.get('libssl3')).toEqual({
      package: 'libssl3',
      installedVersion: '3.0.19-1~deb12u2',
      candidateVersion: '3.0.22-1~deb12u2',
      classification: 'security',
      severity: 'unknown',
      cves: [],
      source: 'Debian-Security:12/oldstable-security',
      arch: 'amd64',
    });
    // In both the point release and the security archive: security wins.
    expect(byName.get('libgcrypt20')).toMatchObject({
      candidateVersion: '1.10.1-3+deb12u1',
      classification: 'security',
      source: 'Debian-Security:12/oldstable-security',
    });
    expect(byName.get('libcap2')).toMatchObject({
      installedVersion: '1:2.66-4+deb12u2+b2',
      candidateVersion: '1:2.66-4+deb12u3+b1',
    });
    expect(byName.get('init-system-helpers')).toMatchObject({ arch: 'all', classification: 'other' });
  });

  it('agrees package by package with apt list --upgradable captured at the same time', () => {
    const list = parseAptList(ran(LIST));
    expect(list.problems).toEqual([]);
    const summarise = (findings: typeof parsed.findings) =>
      Object.fromEntries(
        findings.map((f) => [
          f.package,
          `${f.installedVersion} ${f.candidateVersion} ${f.arch} ${f.classification}`,
        ]),
      );
    expect(summarise(list.findings)).toEqual(summarise(parsed.findings));
    expect(parsed.findings.filter((f) => f.classification === 'security')).toHaveLength(69);
  });
});

describe('parseAptSimulate on the documented Inst format', () => {
  it('reads Ubuntu security pockets, multiarch names and skips new packages and removals', () => {
    const text = [
      'NOTE: This is only a simulation!',
      'Inst libssl3 [3.0.2-0ubuntu1.14] (3.0.2-0ubuntu1.15 Ubuntu:22.04/jammy-updates, Ubuntu:22.04/jammy-security [amd64])',
      'Inst libc6:i386 [2.35-0ubuntu3.6] (2.35-0ubuntu3.7 Ubuntu:22.04/jammy-updates [i386])',
      'Inst linux-image-5.15.0-105-generic (5.15.0-105.115 Ubuntu:22.04/jammy-security [amd64])',
      'Inst linux-image-generic [5.15.0.102.99] (5.15.0.105.102 Ubuntu:22.04/jammy-security [amd64]) []',
      'Inst openssh-server [1:7.4p1-10+deb9u7] (1:7.4p1-10+deb9u8 Debian-Security:9/oldstable [amd64])',
      'Remv oldpkg [1.0]',
      'Conf libssl3 (3.0.2-0ubuntu1.15 Ubuntu:22.04/jammy-updates [amd64])',
      '4 upgraded, 1 newly installed, 1 to remove and 0 not upgraded.',
      '',
    ].join('\n');
    const parsed = parseAptSimulate(ran(text));
    expect(parsed.problems).toEqual([]);
    expect(
      parsed.findings.map((f) => [f.package, f.classification, f.arch, f.source, f.rebootRequired]),
    ).toEqual([
      ['libssl3', 'security', 'amd64', 'Ubuntu:22.04/jammy-security', undefined],
      ['libc6', 'other', 'i386', 'Ubuntu:22.04/jammy-updates', true],
      ['linux-image-generic', 'security', 'amd64', 'Ubuntu:22.04/jammy-security', true],
      ['openssh-server', 'security', 'amd64', 'Debian-Security:9/oldstable', undefined],
    ]);
  });

  it('reads an up-to-date server as no findings and no problems', () => {
    const text =
      'Reading package lists...\nBuilding dependency tree...\nReading state information...\nCalculating upgrade...\n' +
      '0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n';
    const result = parseScan('debian', {
      'apt-simulate': ran(text),
      'reboot-required': ran('', 1, 'cat: /var/run/reboot-required: No such file or directory'),
    });
    expect(result).toEqual({
      family: 'debian',
      method: 'apt-get -s dist-upgrade',
      findings: [],
      rebootRequired: false,
      problems: [],
    });
  });

  it('keeps the complete lines of output cut mid-line and says it was cut', () => {
    const cut = cutInside(SIMULATE, 'Inst libpam0g [');
    const parsed = parseAptSimulate(ran(cut));
    expect(parsed.findings.map((f) => f.package)).not.toContain('libpam0g');
    expect(parsed.findings.length).toBeGreaterThan(0);
    expect(parsed.problems.map((p) => p.kind)).toEqual(['truncated_output']);
  });

  it('reports malformed Inst lines as a warning and keeps the rest', () => {
    const parsed = parseAptSimulate(
      ran(`Inst bash [5.2] (5.3 Debian:12/stable [amd64])\nInst broken (no arch here)\n`),
    );
    expect(parsed.findings).toHaveLength(1);
    expect(parsed.problems).toMatchObject([{ kind: 'unknown_output', severity: 'warning' }]);
  });
});

describe('parseAptList', () => {
  it('reads the benchmark fake-apt-scan output (real apt list format) with -security suites as security', () => {
    const bench = readFileSync('/work/shared/bench/ssh-scan/fake-apt-scan', 'utf8');
    const body = bench.slice(bench.indexOf('\nListing...') + 1, bench.lastIndexOf('\nOUT') + 1);
    const parsed = parseAptList(ran(body));
    expect(parsed.problems).toEqual([]);
    expect(parsed.findings).toHaveLength(40);
    expect(parsed.findings.filter((f) => f.classification === 'security')).toHaveLength(26);
    expect(parsed.findings.find((f) => f.package === 'bind9-host')).toEqual({
      package: 'bind9-host',
      installedVersion: '1:9.18.24-1',
      candidateVersion: '1:9.18.28-1~deb12u2',
      classification: 'security',
      severity: 'unknown',
      cves: [],
      source: 'stable-security',
      arch: 'amd64',
    });
    expect(parsed.findings.find((f) => f.package === 'tzdata')).toMatchObject({
      source: 'stable-updates',
      classification: 'other',
    });
  });
});

describe('parseDebianScan problems', () => {
  it('asks for a retry with backoff when the dpkg lock is held', () => {
    const stderr =
      'E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (unattended-upgr)\n' +
      'E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?\n';
    const result = parseDebianScan({
      'apt-simulate': ran('', 100, stderr),
      'apt-list': ran('', 100, stderr),
    });
    expect(result.findings).toEqual([]);
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatchObject({
      kind: 'lock_held',
      severity: 'error',
      retryable: true,
      retryAfterSeconds: 15,
    });
    expect(result.problems[0]!.message).toContain('process 4242 (unattended-upgr)');
  });

  it('reports an interrupted dpkg with the command that repairs it', () => {
    const stderr =
      "E: dpkg was interrupted, you must manually run 'dpkg --configure -a' to correct the problem. \n";
    const result = parseDebianScan({ 'apt-simulate': ran('', 100, stderr) });
    expect(result.problems).toEqual([
      expect.objectContaining({
        kind: 'dpkg_interrupted',
        severity: 'error',
        fix: 'dpkg --configure -a',
        retryable: false,
      }),
    ]);
    expect(result.problems[0]!.message).toContain('sudo dpkg --configure -a');
  });

  it('turns dpkg --audit output into an interrupted-dpkg problem naming the packages', () => {
    const audit =
      'The following packages are only half configured, probably due to problems\n' +
      'configuring them the first time.  The configuration should be retried using\n' +
      'dpkg --configure <package> or the configure menu option in dselect:\n' +
      ' openssh-server       secure shell (SSH) server, for secure access from remote machines\n';
    expect(parseDpkgAudit(ran(audit))).toEqual([expect.objectContaining({ kind: 'dpkg_interrupted' })]);
    expect(parseDpkgAudit(ran(audit))[0]!.message).toContain('openssh-server');
    expect(parseDpkgAudit(ran(''))).toEqual([]);
  });

  it('warns that findings may be stale when repositories are unreachable', () => {
    const problems = detectAptProblems(
      ran(
        '',
        0,
        "W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Temporary failure resolving 'deb.debian.org'\nW: Some index files failed to download. They have been ignored, or old ones used instead.\n",
      ),
      'refresh',
    );
    expect(problems).toMatchObject([{ kind: 'repos_unreachable', severity: 'warning', retryable: true }]);
  });

  it('falls back to apt list when the simulation fails for another reason', () => {
    const result = parseDebianScan({
      'apt-simulate': ran('', 100, 'E: The package lists or status file could not be parsed or opened.'),
      'apt-list': ran(
        LIST,
        0,
        'WARNING: apt does not have a stable CLI interface. Use with caution in scripts.',
      ),
    });
    expect(result.method).toBe('apt list --upgradable');
    expect(result.findings).toHaveLength(123);
    expect(result.problems).toEqual([]);
  });

  it('reports a failed scan with the apt error when nothing else explains it', () => {
    const result = parseDebianScan({
      'apt-simulate': ran(
        'Reading package lists...\n',
        100,
        'E: Unable to parse package file /var/lib/apt/lists/x',
      ),
    });
    expect(result.problems).toMatchObject([{ kind: 'command_failed', severity: 'error' }]);
    expect(result.problems[0]!.message).toContain('E: Unable to parse package file');
  });

  it('reads the reboot flag and the packages that asked for it', () => {
    const result = parseScan('debian', {
      'apt-simulate': ran(
        'Reading package lists...\n0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n',
      ),
      'reboot-required': ran('*** System restart required ***\n'),
      'reboot-required-pkgs': ran('linux-image-6.1.0-28-amd64\nlibc6\nlibc6\n$(reboot)\n'),
    });
    expect(result.rebootRequired).toBe(true);
    expect(result.rebootPackages).toEqual(['linux-image-6.1.0-28-amd64', 'libc6']);
  });

  it('says so when the apt output is missing altogether', () => {
    expect(parseDebianScan({}).problems).toMatchObject([
      { kind: 'missing_output', commandId: 'apt-simulate' },
    ]);
  });
});
