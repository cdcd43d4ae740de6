import { describe, expect, it } from 'vitest';
import {
  parseAlpineScan,
  parseApkList,
  parseApkVersion,
  parseKernelModules,
  splitApkNameVersion,
} from './apk.js';
import { cutInside, fixture, ran } from './test-helpers.js';

const VERSION = fixture('alpine-3.19-apk-version.stdout');
const LIST = fixture('alpine-3.19-apk-list.stdout');

const EXPECTED = [
  ['busybox', '1.36.1-r15', '1.36.1-r20'],
  ['busybox-binsh', '1.36.1-r15', '1.36.1-r20'],
  ['libcrypto3', '3.1.4-r5', '3.1.7-r1'],
  ['libssl3', '3.1.4-r5', '3.1.7-r1'],
  ['linux-lts', '6.6.14-r0', '6.6.58-r0'],
  ['musl', '1.2.4_git20230717-r4', '1.2.4_git20230717-r5'],
  ['nodejs', '20.11.1-r0', '20.15.1-r0'],
  ['ssl_client', '1.36.1-r15', '1.36.1-r20'],
];

describe("apk version -l '<' (documented format)", () => {
  it('reads every package with installed and candidate versions and the repository tag', () => {
    const parsed = parseApkVersion(ran(VERSION));
    expect(parsed.problems).toEqual([]);
    expect(parsed.findings.map((f) => [f.package, f.installedVersion, f.candidateVersion])).toEqual(EXPECTED);
    expect(parsed.findings.find((f) => f.package === 'nodejs')).toEqual({
      package: 'nodejs',
      installedVersion: '20.11.1-r0',
      candidateVersion: '20.15.1-r0',
      classification: 'other',
      severity: 'unknown',
      cves: [],
      source: '@edge',
    });
    expect(parsed.findings.find((f) => f.package === 'linux-lts')?.rebootRequired).toBe(true);
  });

  it('reads a name-version of 40 characters or more that touches the operator', () => {
    const line = `${'py3-some-really-long-package-name-here'}-1.2.3-r0< 1.2.4-r0 \n`;
    expect(parseApkVersion(ran(line)).findings).toMatchObject([
      { package: 'py3-some-really-long-package-name-here', candidateVersion: '1.2.4-r0' },
    ]);
  });

  it('reads an up-to-date server (header only) as no findings', () => {
    expect(
      parseAlpineScan({ 'apk-version': ran('Installed:                                Available:\n') }),
    ).toMatchObject({
      findings: [],
      problems: [],
    });
  });

  it('keeps complete lines of output cut mid-line and says it was cut', () => {
    const parsed = parseApkVersion(ran(cutInside(VERSION, 'musl-1.2.4')));
    expect(parsed.findings.map((f) => f.package)).toEqual([
      'busybox',
      'busybox-binsh',
      'libcrypto3',
      'libssl3',
      'linux-lts',
    ]);
    expect(parsed.problems.map((p) => p.kind)).toEqual(['truncated_output']);
  });

  it('warns when a repository index could not be read', () => {
    const stderr =
      'WARNING: Ignoring https://dl-cdn.alpinelinux.org/alpine/v3.19/main: temporary error (try again later)\n';
    const result = parseAlpineScan({ 'apk-version': ran(VERSION, 0, stderr) });
    expect(result.findings).toHaveLength(8);
    expect(result.problems).toMatchObject([{ kind: 'repos_unreachable', severity: 'warning' }]);
  });

  it('asks for a retry when the apk database is locked', () => {
    const result = parseAlpineScan({
      'apk-version': ran('', 99, 'ERROR: Unable to lock database: Resource temporarily unavailable\n'),
    });
    expect(result.problems).toMatchObject([{ kind: 'lock_held', retryable: true }]);
  });
});

describe('apk list -u (documented format)', () => {
  it('gives the same findings as apk version, with the arch', () => {
    const parsed = parseApkList(ran(LIST));
    expect(parsed.problems).toEqual([]);
    expect(parsed.findings.map((f) => [f.package, f.installedVersion, f.candidateVersion])).toEqual(EXPECTED);
    expect(parsed.findings.every((f) => f.arch === 'x86_64')).toBe(true);
  });

  it('is used when apk version fails', () => {
    const result = parseAlpineScan({
      'apk-version': ran('', 1, 'apk: unknown option'),
      'apk-list': ran(LIST),
    });
    expect(result.method).toBe('apk list -u');
    expect(result.findings).toHaveLength(8);
  });
});

describe('alpine helpers', () => {
  it('splits package names that contain digits and dashes', () => {
    expect(splitApkNameVersion('py3-pip-23.3.1-r0')).toEqual({ name: 'py3-pip', version: '23.3.1-r0' });
    expect(splitApkNameVersion('lua5.4-5.4.6-r0')).toEqual({ name: 'lua5.4', version: '5.4.6-r0' });
    expect(splitApkNameVersion('nonsense')).toBeNull();
    expect(splitApkNameVersion(`${'a-1'.repeat(200)}-r0`)).toBeNull();
  });

  it('reads a replaced running kernel as a pending reboot, and a container as unknown', () => {
    expect(parseKernelModules(ran('/lib/modules/6.6.14-0-lts\n'))).toBe(false);
    expect(parseKernelModules(ran('', 1, 'ls: /lib/modules/6.6.14-0-lts: No such file or directory'))).toBe(
      true,
    );
    expect(parseKernelModules(ran('', 3))).toBeNull();
  });
});
