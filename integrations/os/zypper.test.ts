import { describe, expect, it } from 'vitest';
import { fixture, ran } from './test-helpers.js';
import type { CommandOutputs } from './types.js';
import { parsePatchConflicts, parseSuseScan, parseZypperPatches } from './zypper.js';
import { decodeEntities, findElements } from './zypper-xml.js';

const UPDATES = fixture('sles-15-list-updates.xml');
const PATCHES = fixture('sles-15-list-patches.xml');
const PATCH_INFO = fixture('sles-15-patch-info.stdout');
const REPO = 'Basesystem_Module_15_SP5_x86_64:SLE-Module-Basesystem15-SP5-Updates';

function sles(overrides: Partial<Record<string, ReturnType<typeof ran>>> = {}): CommandOutputs {
  return {
    'zypper-updates': ran(UPDATES),
    'zypper-patches': ran(PATCHES),
    'zypper-patch-info': ran(PATCH_INFO),
    'needs-rebooting': ran('', 102),
    ...overrides,
  } as CommandOutputs;
}

describe('parseSuseScan on SLES 15 SP5 (zypper --xmlout, documented format)', () => {
  it('classifies packages by the patches that fix them, with severity, CVE ids and reboot flags', () => {
    const result = parseSuseScan(sles());
    expect(result.method).toBe('zypper list-updates');
    expect(result.rebootRequired).toBe(true);
    expect(result.problems).toEqual([]);
    const base = { source: REPO, arch: 'x86_64' };
    const openssl = {
      classification: 'security',
      severity: 'important',
      cves: ['CVE-2024-4741', 'CVE-2024-5535'],
      advisories: ['SUSE-SLE-Module-Basesystem-15-SP5-2024-2635'],
    };
    expect(result.findings).toEqual([
      {
        ...base,
        package: 'aaa_base',
        installedVersion: '84.87+git20180409.04c9dae-150300.10.17.2',
        candidateVersion: '84.87+git20180409.04c9dae-150300.10.20.1',
        classification: 'bugfix',
        severity: 'low',
        cves: [],
        advisories: ['SUSE-SLE-Module-Basesystem-15-SP5-2024-2350'],
      },
      {
        ...base,
        package: 'kernel-default',
        installedVersion: '5.14.21-150500.55.68.1',
        candidateVersion: '5.14.21-150500.55.73.1',
        classification: 'security',
        severity: 'critical',
        cves: ['CVE-2024-26923', 'CVE-2024-36971'],
        advisories: ['SUSE-SLE-Module-Basesystem-15-SP5-2024-2948'],
        rebootRequired: true,
      },
      {
        ...base,
        ...openssl,
        package: 'libopenssl1_1',
        installedVersion: '1.1.1l-150500.17.31.1',
        candidateVersion: '1.1.1l-150500.17.34.1',
      },
      {
        ...base,
        ...openssl,
        package: 'openssl-1_1',
        installedVersion: '1.1.1l-150500.17.31.1',
        candidateVersion: '1.1.1l-150500.17.34.1',
      },
      {
        ...base,
        package: 'vim',
        installedVersion: '9.1.0111-150500.20.9.1',
        candidateVersion: '9.1.0330-150500.20.12.1',
        classification: 'other',
        severity: 'unknown',
        cves: [],
      },
      {
        ...base,
        package: 'zypper',
        installedVersion: '1.14.68-150500.3.8.2',
        candidateVersion: '1.14.73-150500.3.14.1',
        classification: 'bugfix',
        severity: 'moderate',
        cves: [],
        advisories: ['SUSE-SLE-Module-Basesystem-15-SP5-2024-1734'],
      },
    ]);
  });

  it('reads patches in both the update list and the blocked list', () => {
    const patches = parseZypperPatches(PATCHES);
    expect(patches.map((p) => [p.name.slice(-9), p.classification, p.severity, p.rebootSuggested])).toEqual([
      ['2024-1734', 'bugfix', 'moderate', false],
      ['2024-2635', 'security', 'important', false],
      ['2024-2948', 'security', 'critical', true],
      ['2024-2350', 'bugfix', 'low', false],
    ]);
  });

  it('maps patches to packages from the Conflicts lines, ignoring source packages', () => {
    const conflicts = parsePatchConflicts(PATCH_INFO);
    expect(conflicts.get('SUSE-SLE-Module-Basesystem-15-SP5-2024-2635')).toEqual([
      { name: 'libopenssl-1_1-devel', arch: 'x86_64' },
      { name: 'libopenssl1_1', arch: 'x86_64' },
      { name: 'libopenssl1_1-32bit', arch: 'x86_64' },
      { name: 'libopenssl1_1-hmac', arch: 'x86_64' },
      { name: 'openssl-1_1', arch: 'x86_64' },
    ]);
  });

  it('falls back to patch summaries, with a warning, when patch details are missing', () => {
    const result = parseSuseScan(sles({ 'zypper-patch-info': undefined }));
    expect(result.findings.find((f) => f.package === 'openssl-1_1')).toMatchObject({
      classification: 'security',
    });
    expect(result.findings.find((f) => f.package === 'kernel-default')).toMatchObject({
      classification: 'other',
    });
    expect(result.problems).toMatchObject([
      { kind: 'missing_output', severity: 'warning', commandId: 'zypper-patch-info' },
    ]);
  });

  it('reads an up-to-date server as no findings', () => {
    const empty =
      '<?xml version=\'1.0\'?>\n<stream>\n<update-status version="0.6">\n<update-list>\n</update-list>\n</update-status>\n</stream>\n';
    const result = parseSuseScan(
      sles({ 'zypper-updates': ran(empty), 'zypper-patches': ran(empty), 'needs-rebooting': ran('', 0) }),
    );
    expect(result).toMatchObject({ findings: [], problems: [], rebootRequired: false });
  });

  it('keeps the packages that arrived when the XML is cut off, and says it was cut', () => {
    const cut = UPDATES.slice(0, UPDATES.indexOf('<update kind="package" name="vim"') + 20);
    const result = parseSuseScan(sles({ 'zypper-updates': ran(cut, null) }));
    expect(result.findings.map((f) => f.package)).toEqual([
      'aaa_base',
      'kernel-default',
      'libopenssl1_1',
      'openssl-1_1',
    ]);
    expect(result.problems).toMatchObject([{ kind: 'truncated_output', commandId: 'zypper-updates' }]);
  });

  it('asks for a retry when the zypp lock is held', () => {
    const stdout =
      '<?xml version=\'1.0\'?>\n<stream>\n<message type="error">System management is locked by the application with pid 2211 (zypper).\nClose this application before trying again.</message>\n</stream>\n';
    const result = parseSuseScan(sles({ 'zypper-updates': ran(stdout, 7) }));
    expect(result.findings).toEqual([]);
    expect(result.problems).toMatchObject([{ kind: 'lock_held', retryable: true, retryAfterSeconds: 15 }]);
  });

  it('warns about skipped repositories (exit 106) but keeps the findings', () => {
    const result = parseSuseScan(
      sles({
        'zypper-updates': ran(
          UPDATES.replace(
            '<update-status',
            '<message type="error">Problem retrieving files from \'SLE-Product-SLES15-SP5-Updates\'.</message>\n<update-status',
          ),
          106,
        ),
      }),
    );
    expect(result.findings).toHaveLength(6);
    expect(result.problems).toMatchObject([{ kind: 'repos_unreachable', severity: 'warning' }]);
  });

  it('falls back to /run/reboot-needed when zypper has no needs-rebooting command', () => {
    const missing = ran('', 1, "zypper: Unknown command 'needs-rebooting'");
    expect(parseSuseScan(sles({ 'needs-rebooting': missing, 'reboot-needed': ran('') })).rebootRequired).toBe(
      true,
    );
    const gone = ran('', 1, 'cat: /run/reboot-needed: No such file or directory');
    expect(parseSuseScan(sles({ 'needs-rebooting': missing, 'reboot-needed': gone })).rebootRequired).toBe(
      false,
    );
    expect(parseSuseScan(sles({ 'needs-rebooting': missing })).rebootRequired).toBeNull();
  });
});

describe('zypper XML reader', () => {
  it('decodes entities without expanding anything external', () => {
    expect(decodeEntities('&lt;a&gt; &amp;amp; &#65;&#x42; &apos;&quot; &unknown; &#0;')).toBe(
      '<a> &amp; AB \'" &unknown; &#0;',
    );
    const hostile =
      '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd"><!ENTITY a "&e;&e;&e;">]>\n<update kind="package" name="&e;" edition="1-1" arch="x86_64"/>';
    expect(findElements(hostile, 'update')[0]!.attributes).toEqual({
      kind: 'package',
      name: '&e;',
      edition: '1-1',
      arch: 'x86_64',
    });
    expect(parseSuseScan(sles({ 'zypper-updates': ran(`<stream>${hostile}</stream>`) })).findings).toEqual(
      [],
    );
  });
});
