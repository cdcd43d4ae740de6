import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFakeClock } from '../../../lib/clock.js';
import { type FakeSsm, type SsmPatch, startFakeSsm } from '../../../test/fakes/ssm.js';
import { classifyTargetError } from '../errors.js';
import { createSsmTarget, discoverSsmInstances, type SsmTargetConfig } from './index.js';

const KEY = 'AKIDSSMTEST';
const LINUX = 'i-0aaaaaaaaaaaaaaa1';
let ssm: FakeSsm;

function config(extra: Partial<SsmTargetConfig> = {}): SsmTargetConfig {
  return {
    region: 'eu-west-1',
    endpoint: ssm.url,
    credentials: { accessKeyId: KEY, secretAccessKey: 'secret' },
    instanceId: LINUX,
    pollIntervalMs: 5,
    maxPollIntervalMs: 20,
    maxAttempts: 4,
    ...extra,
  };
}

beforeEach(async () => {
  ssm = await startFakeSsm({ accessKeyId: KEY, region: 'eu-west-1' });
});
afterEach(async () => {
  ssm.verify();
  await ssm.stop();
});

// Entries as the DescribeInstancePatches API reference prints them (Title name.arch:epoch:version,
// KBId name.arch), with the wire's epoch-seconds InstalledTime and comma-separated CVEIds.
const PATCHES: SsmPatch[] = [
  {
    Title: 'kernel-modules.x86_64:0:4.18.0-305.10.2.el8_4',
    KBId: 'kernel-modules.x86_64',
    Classification: 'Security',
    Severity: 'Important',
    State: 'Missing',
    InstalledTime: 0,
    CVEIds: 'CVE-2021-33909,CVE-2021-22555',
  },
  {
    Title: 'NetworkManager.x86_64:1:1.30.0-7.el8',
    KBId: 'NetworkManager.x86_64',
    Classification: 'Bugfix',
    Severity: 'Moderate',
    State: 'Failed',
    InstalledTime: 0,
  },
  {
    Title: 'bash.x86_64:0:4.4.19-14.el8',
    KBId: 'bash.x86_64',
    Classification: 'Security',
    Severity: 'Low',
    State: 'InstalledPendingReboot',
    InstalledTime: 1716138205,
  },
  {
    Title: 'curl.x86_64:0:7.61.1-18.el8',
    KBId: 'curl.x86_64',
    Classification: 'Security',
    Severity: 'Medium',
    State: 'Installed',
    InstalledTime: 1716138205,
  },
];

describe('aws-ssm discovery', () => {
  it('lists every managed node across pages with its platform, address and reachability', async () => {
    for (let i = 0; i < 57; i++) {
      ssm.instance(`i-${String(i).padStart(17, '0')}`, {
        ComputerName: `web-${i}`,
        IPAddress: `10.0.1.${i}`,
      });
    }
    ssm.instance('i-0bbbbbbbbbbbbbbb2', {
      PlatformType: 'Windows',
      PlatformName: 'Microsoft Windows Server 2019 Datacenter',
      PlatformVersion: '10.0.17763',
      PingStatus: 'ConnectionLost',
      ComputerName: 'EC2AMAZ-1',
    });
    const servers = await discoverSsmInstances({ ...config(), accountId: '123456789012' });
    expect(servers).toHaveLength(58);
    expect(ssm.calls('DescribeInstanceInformation')).toHaveLength(2);
    expect(servers[3]).toMatchObject({
      providerId: 'i-00000000000000003',
      name: 'web-3',
      address: '10.0.1.3',
      os: { family: 'debian', id: 'ubuntu', versionId: '22.04' },
      tags: {},
      accountId: '123456789012',
      online: true,
      platform: 'Linux',
    });
    expect(servers.at(-1)).toMatchObject({ platform: 'Windows', online: false, os: { family: 'windows' } });
  });

  it('reports refused credentials as auth-failed', async () => {
    const error = await discoverSsmInstances({
      region: 'eu-west-1',
      endpoint: ssm.url,
      credentials: { accessKeyId: 'AKIDWRONG', secretAccessKey: 'x' },
    }).catch((e: unknown) => e);
    expect(classifyTargetError(error)).toBe('auth-failed');
    expect(String(error)).toMatch(/UnrecognizedClientException/);
  });
});

describe('aws-ssm scan', () => {
  it('runs AWS-RunPatchBaseline Scan and maps pending patches to findings', async () => {
    const instance = ssm.instance(LINUX, {
      PlatformName: 'Red Hat Enterprise Linux',
      PlatformVersion: '8.4',
    });
    instance.patches = PATCHES;
    const clock = createFakeClock('2026-03-01T10:00:00Z');
    const target = createSsmTarget(config(), { clock });
    const result = await target.scan();
    expect(instance.patchRuns).toEqual([
      { operation: 'Scan', rebootOption: 'NoReboot', installOverrideList: undefined },
    ]);
    expect(ssm.calls('DescribeInstancePatches')[0]).toMatchObject({
      Filters: [{ Key: 'State', Values: ['Missing', 'Failed', 'InstalledPendingReboot'] }],
      MaxResults: 100,
    });
    expect(result.os).toMatchObject({ family: 'rhel', id: 'rhel', versionId: '8.4' });
    expect(result.rebootRequired).toBe(true);
    expect(result.scannedAt).toEqual(new Date('2026-03-01T10:00:00Z'));
    expect(result.findings).toEqual([
      {
        package: 'kernel-modules',
        arch: 'x86_64',
        installedVersion: '',
        candidateVersion: '4.18.0-305.10.2.el8_4',
        classification: 'security',
        severity: 'important',
        cves: ['CVE-2021-22555', 'CVE-2021-33909'],
      },
      {
        package: 'NetworkManager',
        arch: 'x86_64',
        installedVersion: '',
        candidateVersion: '1:1.30.0-7.el8',
        classification: 'bugfix',
        severity: 'moderate',
        cves: [],
      },
    ]);
  });

  it('follows NextToken through every page of patches', async () => {
    const instance = ssm.instance(LINUX);
    instance.patches = Array.from({ length: 230 }, (_, i) => ({
      ...PATCHES[0]!,
      Title: `pkg${i}.x86_64:0:1.0-${i}`,
      KBId: `pkg${i}.x86_64`,
    }));
    const result = await createSsmTarget(config()).scan();
    expect(result.findings).toHaveLength(230);
    expect(ssm.calls('DescribeInstancePatches')).toHaveLength(3);
  });

  it('refuses to report old compliance data when the scan command fails', async () => {
    ssm
      .instance(LINUX)
      .onPatchBaseline(() => ({ exitCode: 1, stdout: 'Could not get lock /var/lib/dpkg/lock-frontend' }));
    ssm.instance(LINUX).patches = PATCHES;
    const error = await createSsmTarget(config())
      .scan()
      .catch((e: unknown) => e);
    expect(classifyTargetError(error)).toBe('package-lock');
    expect(ssm.calls('DescribeInstancePatches')).toHaveLength(0);
  });
});
