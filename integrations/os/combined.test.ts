import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  combinedScanCommandLine,
  combinedScanScript,
  parseCombinedScan,
  parseOsReleaseAndAptList,
  splitCombinedOutput,
} from './combined.js';
import { bigText, fixture, randomBytes } from './test-helpers.js';
import type { ShellFamily } from './types.js';

const CAPTURED = fixture('debian-12-combined-auto.txt');
const NONCE = /@@WARDEN:([0-9a-f]+):scan/.exec(CAPTURED)![1]!;

function withoutSection(text: string, id: string): string {
  const start = text.indexOf(`@@WARDEN:${NONCE}:begin:${id}@@`);
  const endTag = `@@WARDEN:${NONCE}:end:${id}:`;
  const end = text.indexOf('\n', text.indexOf(endTag)) + 1;
  return text.slice(0, start) + text.slice(end);
}

describe('parseCombinedScan on the script output captured from this Debian 12 machine', () => {
  it('reads the OS, the findings and the reboot state', () => {
    const result = parseCombinedScan(CAPTURED);
    expect(result.os).toMatchObject({
      family: 'debian',
      id: 'debian',
      versionId: '12',
      codename: 'bookworm',
    });
    expect(result.family).toBe('debian');
    expect(result.method).toBe('apt-get -s dist-upgrade');
    expect(result.findings).toHaveLength(123);
    expect(result.findings.filter((f) => f.classification === 'security')).toHaveLength(69);
    expect(result.rebootRequired).toBe(false);
    expect(result.problems).toEqual([]);
  });

  it('splits sections byte for byte with stderr and exit codes', () => {
    const sections = splitCombinedOutput(CAPTURED)!;
    expect(Object.keys(sections.outputs)).toEqual([
      'family',
      'os-release',
      'apt-simulate',
      'dpkg-audit',
      'reboot-required',
    ]);
    expect(sections.outputs['os-release']!.stdout).toBe(fixture('debian-12-os-release'));
    expect(sections.outputs['reboot-required']).toEqual({
      stdout: '',
      stderr: 'cat: /var/run/reboot-required: No such file or directory',
      exitCode: 1,
    });
    expect(sections.complete).toBe(true);
  });

  it('reports a missing section as a problem instead of failing', () => {
    const result = parseCombinedScan(withoutSection(CAPTURED, 'apt-simulate'));
    expect(result.findings).toEqual([]);
    expect(result.problems).toMatchObject([
      { kind: 'missing_output', commandId: 'apt-simulate', retryable: true },
    ]);
    const noOs = parseCombinedScan(withoutSection(CAPTURED, 'os-release'));
    expect(noOs.findings).toHaveLength(123);
    expect(noOs.problems).toMatchObject([{ kind: 'missing_output', commandId: 'os-release' }]);
  });

  it('keeps what arrived when the connection dropped mid-section', () => {
    const cut = CAPTURED.slice(0, CAPTURED.indexOf('Inst libssl3 [') + 10);
    const result = parseCombinedScan(cut);
    expect(result.findings.length).toBeGreaterThan(5);
    expect(result.findings.length).toBeLessThan(123);
    expect(result.problems.map((p) => p.kind)).toContain('truncated_output');
    expect(result.rebootRequired).toBeNull();
  });

  it('ignores a login banner before the header and markers with another nonce', () => {
    const spoofed = CAPTURED.replace(
      'VERSION_CODENAME=bookworm\n',
      'VERSION_CODENAME=bookworm\n@@WARDEN:0000:end:os-release:0@@\n@@WARDEN:0000:done@@\n',
    );
    const result = parseCombinedScan(`Welcome to host01!\nLast login: yesterday\n${spoofed}`);
    expect(result.findings).toHaveLength(123);
    expect(result.problems).toEqual([]);
  });

  it('turns garbage, binary and 10 MB of text into a problem, never an exception', () => {
    for (const text of ['', 'hello', randomBytes(1 << 20).toString('latin1'), bigText(10)]) {
      const result = parseCombinedScan(text);
      expect(result.findings).toEqual([]);
      expect(result.problems).toMatchObject([{ kind: 'unknown_output', severity: 'error' }]);
    }
    const headerThenGarbage = `@@WARDEN:ab12:scan:1:auto@@\n${randomBytes(100_000).toString('latin1')}`;
    expect(parseCombinedScan(headerThenGarbage).problems.length).toBeGreaterThan(0);
  });

  it('refuses a server where no supported package manager was found', () => {
    const text =
      '@@WARDEN:ab:scan:1:auto@@\n@@WARDEN:ab:begin:family@@\nunknown\n\n@@WARDEN:ab:stderr:family@@\n\n@@WARDEN:ab:end:family:0@@\n@@WARDEN:ab:done@@\n';
    expect(parseCombinedScan(text).problems).toMatchObject([
      { kind: 'missing_output' },
      { kind: 'unsupported_os' },
    ]);
  });
});

describe('parseOsReleaseAndAptList', () => {
  it('reads the SSH benchmark fake-apt-scan output: Debian 12 and 40 packages', () => {
    const bench = readFileSync('/work/shared/bench/ssh-scan/fake-apt-scan', 'utf8');
    const printed = bench.slice(bench.indexOf("<<'OUT'\n") + 7, bench.lastIndexOf('\nOUT') + 1);
    const result = parseOsReleaseAndAptList(printed);
    expect(result.os).toMatchObject({ family: 'debian', versionId: '12', codename: 'bookworm' });
    expect(result.method).toBe('apt list --upgradable');
    expect(result.findings).toHaveLength(40);
    expect(result.problems).toEqual([]);
  });

  it('reports output without the apt list as unknown', () => {
    expect(parseOsReleaseAndAptList(fixture('debian-12-os-release')).problems).toMatchObject([
      { kind: 'unknown_output' },
    ]);
    expect(parseOsReleaseAndAptList(randomBytes(10_000).toString('latin1')).findings).toEqual([]);
  });
});

describe('combinedScanScript', () => {
  it('is a constant per family and passes a POSIX sh syntax check', () => {
    for (const family of ['auto', 'debian', 'rhel', 'suse', 'alpine'] as const) {
      const script = combinedScanScript(family);
      expect(combinedScanScript(family)).toBe(script);
      const check = spawnSync('/bin/sh', ['-n', '-c', script]);
      expect(check.status, check.stderr.toString()).toBe(0);
    }
  });

  it('runs through `sh -c` as one quoted command line', () => {
    const run = spawnSync('/bin/sh', [
      '-c',
      combinedScanCommandLine('debian').replace(/^sh -c /, 'printf %s '),
    ]);
    expect(run.stdout.toString()).toBe(combinedScanScript('debian'));
  });
});

// Runs the real script under /bin/sh with fake package managers standing in for the ones this
// Debian machine does not have, to test the shell side: sections, stderr, exit codes, patch names.
describe('combined script under /bin/sh with fake package managers', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'warden-os-'));
  const bin = path.join(dir, 'bin');
  const fixtures = new URL('./fixtures/', import.meta.url).pathname;
  spawnSync('mkdir', [bin]);
  for (const tool of ['od', 'tr', 'cat', 'sed', 'ls', 'uname', 'timeout'])
    symlinkSync(`/usr/bin/${tool}`, path.join(bin, tool));
  const fake = (name: string, body: string) => {
    writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(path.join(bin, name), 0o755);
  };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function run(family: ShellFamily | 'auto'): string {
    const script = combinedScanScript(family).replace(
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH',
      `PATH=${bin}; export PATH`,
    );
    expect(script).toContain(`PATH=${bin};`);
    const result = spawnSync('/bin/sh', ['-c', script], {
      env: { LANG: 'de_DE.UTF-8' },
      input: 'stdin must not be read\n',
    });
    expect(result.stderr.toString()).toBe('');
    return result.stdout.toString();
  }

  it('scans an rpm server with dnf: updateinfo, CVEs and exit codes 100 and 1 come through', () => {
    fake(
      'dnf',
      `[ "$LC_ALL" = C ] || exit 9
case "$*" in
  "-q check-update") /usr/bin/cat ${fixtures}rocky-9-check-update.stdout; exit 100 ;;
  "-q updateinfo list updates") exec /usr/bin/cat ${fixtures}rocky-9-updateinfo.stdout ;;
  "-q updateinfo list updates cves") exec /usr/bin/cat ${fixtures}rocky-9-updateinfo-cves.stdout ;;
  "-q needs-restarting -r") /usr/bin/cat ${fixtures}rocky-9-needs-restarting.stdout; exit 1 ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac`,
    );
    fake(
      'rpm',
      `[ "$3" = '%{NAME}\\t%|EPOCH?{%{EPOCH}}:{0}|:%{VERSION}-%{RELEASE}\\t%{ARCH}\\n' ] || exit 7
echo 'warning: Generating 12 missing index(es), please wait...' >&2
exec /usr/bin/cat ${fixtures}rocky-9-rpm-installed.stdout`,
    );
    const output = run('rhel');
    const sections = splitCombinedOutput(output)!;
    expect(sections.outputs.pm!.stdout).toBe('dnf\n');
    expect(sections.outputs['check-update']!.exitCode).toBe(100);
    expect(sections.outputs['rpm-installed']).toMatchObject({
      exitCode: 0,
      stderr: 'warning: Generating 12 missing index(es), please wait...',
    });
    expect(sections.outputs['check-update']!.stdout).toBe(fixture('rocky-9-check-update.stdout'));
    const result = parseCombinedScan(output);
    expect(result.problems).toEqual([]);
    expect(result.findings).toHaveLength(11);
    expect(result.findings.find((f) => f.package === 'bind-libs')).toMatchObject({
      severity: 'important',
      cves: ['CVE-2024-1737', 'CVE-2024-1975'],
    });
    expect(result.rebootRequired).toBe(true);
  });

  it('scans a SUSE server (auto-detected) and asks zypper only about needed security patches', () => {
    const log = path.join(dir, 'zypper-info-args');
    fake(
      'zypper',
      `case "$*" in
  "--non-interactive --xmlout list-updates") exec /usr/bin/cat ${fixtures}sles-15-list-updates.xml ;;
  "--non-interactive --xmlout list-patches") exec /usr/bin/cat ${fixtures}sles-15-list-patches.xml ;;
  "--non-interactive info -t patch "*) shift 4; for a in "$@"; do echo "$a"; done > ${log}; exec /usr/bin/cat ${fixtures}sles-15-patch-info.stdout ;;
  "--non-interactive needs-rebooting") echo 'Core libraries or services have been updated.'; exit 102 ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac`,
    );
    const output = run('auto');
    expect(readFileSync(log, 'utf8')).toBe(
      'SUSE-SLE-Module-Basesystem-15-SP5-2024-2635\nSUSE-SLE-Module-Basesystem-15-SP5-2024-2948\n',
    );
    const result = parseCombinedScan(output);
    expect(result.family).toBe('suse');
    expect(result.findings.map((f) => [f.package, f.classification])).toEqual([
      ['aaa_base', 'bugfix'],
      ['kernel-default', 'security'],
      ['libopenssl1_1', 'security'],
      ['openssl-1_1', 'security'],
      ['vim', 'other'],
      ['zypper', 'bugfix'],
    ]);
    expect(result.rebootRequired).toBe(true);
    expect(result.problems).toEqual([]);
    rmSync(path.join(bin, 'zypper'));
  });

  it('scans an Alpine server and falls back to apk list when apk version fails', () => {
    fake(
      'apk',
      `case "$*" in
  "version -l <") echo 'apk: unrecognised option' >&2; exit 1 ;;
  "list -u") exec /usr/bin/cat ${fixtures}alpine-3.19-apk-list.stdout ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac`,
    );
    const output = run('alpine');
    const sections = splitCombinedOutput(output)!;
    expect(sections.outputs['apk-version']).toEqual({
      stdout: '',
      stderr: 'apk: unrecognised option',
      exitCode: 1,
    });
    expect(sections.outputs['kernel-modules']!.exitCode).toBe(existsSync('/lib/modules') ? 1 : 3);
    const result = parseCombinedScan(output);
    expect(result.method).toBe('apk list -u');
    expect(result.findings).toHaveLength(8);
    expect(result.problems).toEqual([]);
  });
});
