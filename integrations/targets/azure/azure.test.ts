import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFakeClock } from '../../../lib/clock.js';
import {
  type AzurePatch,
  type FakeAzure,
  type FakeAzureVm,
  startFakeAzure,
} from '../../../test/fakes/azure.js';
import { classifyTargetError } from '../errors.js';
import {
  type AzureTargetConfig,
  createAzureTarget,
  discoverAzureVms,
  type TokenCredential,
} from './index.js';

const SUB = '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9';
const TOKEN = 'test-token';
let azure: FakeAzure;

function credential(token = TOKEN): TokenCredential {
  return { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
}

function config(vm: FakeAzureVm, extra: Partial<AzureTargetConfig> = {}): AzureTargetConfig {
  return {
    subscriptionId: SUB,
    resourceId: vm.id,
    endpoint: azure.url,
    tlsCa: azure.ca,
    pollIntervalMs: 5,
    retryDelayMs: 50,
    runCommandOverheadMs: 10_000,
    ...extra,
  };
}

function patch(name: string, classifications: string[], extra: Partial<AzurePatch> = {}): AzurePatch {
  return {
    patchId: `${name}-id`,
    name,
    classifications,
    rebootBehavior: 'NeverReboots',
    activityId: '68f8b292-dfc2-4646-9781-33cc88631968',
    publishedDate: '2024-05-01T00:00:00Z',
    lastModifiedDateTime: '2024-05-02T00:00:00Z',
    assessmentState: 'Available',
    ...extra,
  };
}

beforeEach(async () => {
  azure = await startFakeAzure({ subscriptionId: SUB, token: TOKEN, pageSize: 2 });
});
afterEach(async () => {
  azure.verify();
  await azure.stop();
});

describe('azure discovery', () => {
  it('lists every VM of the subscription across nextLink pages', async () => {
    azure.vm('web', 'web-1', { tags: { env: 'prod' }, computerName: 'web-1.internal' });
    azure.vm('web', 'web-2');
    azure.vm('ops', 'win-1', {
      osType: 'Windows',
      imageReference: {
        publisher: 'MicrosoftWindowsServer',
        offer: 'WindowsServer',
        sku: '2022-datacenter-azure-edition',
        version: 'latest',
      },
    });
    const servers = await discoverAzureVms(
      { subscriptionId: SUB, endpoint: azure.url, tlsCa: azure.ca },
      { credential: credential() },
    );
    expect(servers).toHaveLength(3);
    expect(azure.server.requestsMatching(/virtualMachines$/)).toHaveLength(2);
    expect(servers[0]).toEqual({
      providerId: `/subscriptions/${SUB}/resourceGroups/web/providers/Microsoft.Compute/virtualMachines/web-1`,
      name: 'web-1.internal',
      address: undefined,
      os: expect.objectContaining({ family: 'debian', id: 'ubuntu', versionId: '22.04' }),
      tags: { env: 'prod' },
      accountId: SUB,
      platform: 'Linux',
    });
    expect(servers[2]).toMatchObject({ platform: 'Windows', os: { family: 'windows', versionId: '2022' } });
  });

  it('reports a refused token as auth-failed', async () => {
    const error = await discoverAzureVms(
      { subscriptionId: SUB, endpoint: azure.url, tlsCa: azure.ca },
      { credential: credential('stolen') },
    ).catch((e: unknown) => e);
    expect(classifyTargetError(error)).toBe('auth-failed');
    expect(String(error)).toMatch(/InvalidAuthenticationToken/);
  });

  it('refuses a plain-http endpoint before any token is sent', () => {
    expect(() =>
      createAzureTarget(
        {
          subscriptionId: SUB,
          resourceId: `/subscriptions/${SUB}/resourceGroups/a/providers/Microsoft.Compute/virtualMachines/b`,
          endpoint: 'http://127.0.0.1:1',
        },
        { credential: credential() },
      ),
    ).toThrow(/https/);
  });
});

describe('azure scan', () => {
  it('runs assessPatches to completion and maps Linux patches to findings', async () => {
    const vm = azure.vm('web', 'web-1');
    vm.assessment = {
      status: 'Succeeded',
      rebootPending: true,
      availablePatches: [
        patch('openssl', ['Security'], { version: '3.0.2-0ubuntu1.15' }),
        patch('linux-image-generic', ['Critical'], {
          version: '5.15.0.105.102',
          rebootBehavior: 'AlwaysRequiresReboot',
        }),
        patch('vim', ['Other'], { version: '2:8.2.3995-1ubuntu2.16' }),
      ],
    };
    const target = createAzureTarget(config(vm), {
      credential: credential(),
      clock: createFakeClock('2026-03-01T10:00:00Z'),
    });
    const result = await target.scan();
    expect(result.method).toBe('azure: assessPatches');
    expect(result.rebootRequired).toBe(true);
    expect(result.os).toMatchObject({ family: 'debian', id: 'ubuntu', versionId: '22.04' });
    expect(result.findings).toEqual([
      {
        package: 'openssl',
        installedVersion: '',
        candidateVersion: '3.0.2-0ubuntu1.15',
        classification: 'security',
        severity: 'unknown',
        cves: [],
        rebootRequired: undefined,
      },
      {
        package: 'linux-image-generic',
        installedVersion: '',
        candidateVersion: '5.15.0.105.102',
        classification: 'security',
        severity: 'critical',
        cves: [],
        rebootRequired: true,
      },
      {
        package: 'vim',
        installedVersion: '',
        candidateVersion: '2:8.2.3995-1ubuntu2.16',
        classification: 'other',
        severity: 'unknown',
        cves: [],
        rebootRequired: undefined,
      },
    ]);
    // The long-running operation was polled, then its result read from Location.
    expect(azure.server.requestsMatching(/\/operations\//).length).toBeGreaterThanOrEqual(1);
    expect(azure.server.requestsMatching(/\/operationResults\//)).toHaveLength(1);
  });

  it('names Windows updates by KB and maps Microsoft classifications', async () => {
    const vm = azure.vm('ops', 'win-1', {
      osType: 'Windows',
      imageReference: {
        publisher: 'MicrosoftWindowsServer',
        offer: 'WindowsServer',
        sku: '2019-datacenter',
        version: 'latest',
      },
    });
    vm.assessment.availablePatches = [
      patch(
        'Definition Update for Windows Defender Antivirus - KB2267602 (Definition 1.279.1373.0)',
        ['Definition Updates'],
        { kbId: '2267602' },
      ),
      patch('Windows Malicious Software Removal Tool x64 - October 2018 (KB890830)', ['Update Rollups'], {
        kbId: '890830',
      }),
      patch('2024-05 Cumulative Update for Windows Server 2022 (KB5037782)', ['Security'], {
        kbId: '5037782',
      }),
    ];
    const result = await createAzureTarget(config(vm), { credential: credential() }).scan();
    expect(result.findings.map((f) => [f.package, f.classification])).toEqual([
      ['KB2267602', 'other'],
      ['KB890830', 'bugfix'],
      ['KB5037782', 'security'],
    ]);
    expect(result.os).toMatchObject({ family: 'windows', versionId: '2019' });
  });

  it('retries a throttled request after the Retry-After the fake sent', async () => {
    const vm = azure.vm('web', 'web-1');
    azure.server.rateLimitNext((req) => req.path.endsWith('/assessPatches'), {
      retryAfterSeconds: 1,
      body: { error: { code: 'TooManyRequests', message: 'throttled' } },
    });
    const started = Date.now();
    await createAzureTarget(config(vm), { credential: credential() }).scan();
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(azure.server.requestsMatching((r) => r.path.endsWith('/assessPatches'))).toHaveLength(2);
  });

  it('gives a clear unreachable error for a VM that does not exist', async () => {
    const id = `/subscriptions/${SUB}/resourceGroups/web/providers/Microsoft.Compute/virtualMachines/gone`;
    const error = await createAzureTarget(
      { ...config(azure.vm('web', 'web-1')), resourceId: id },
      { credential: credential() },
    )
      .scan()
      .catch((e: unknown) => e);
    expect(classifyTargetError(error)).toBe('unreachable');
    expect(String(error)).toMatch(/was not found in Azure/);
  });

  it('refuses a resource id that is not a VM id', () => {
    expect(() =>
      createAzureTarget(
        { ...config(azure.vm('web', 'web-1')), resourceId: '/subscriptions/x/../../etc' },
        { credential: credential() },
      ),
    ).toThrow(/not an Azure VM resource id/);
  });
});

describe('azure install and snapshot', () => {
  it('installs exact Linux versions with name=version masks and never reboots', async () => {
    const vm = azure.vm('web', 'web-1');
    vm.assessment.availablePatches = [patch('openssl', ['Security'], { version: '3.0.2-0ubuntu1.15' })];
    const result = await createAzureTarget(config(vm), { credential: credential() }).install([
      { package: 'openssl', version: '3.0.2-0ubuntu1.15' },
      { package: 'curl', version: '7.81.0-1ubuntu1.16' },
    ]);
    expect(vm.installs[0]).toEqual({
      maximumDuration: 'PT2H',
      rebootSetting: 'Never',
      linuxParameters: {
        packageNameMasksToInclude: ['openssl=3.0.2-0ubuntu1.15', 'curl=7.81.0-1ubuntu1.16'],
      },
    });
    expect(result.items.map((item) => item.status)).toEqual(['installed', 'failed']);
    expect(result.failure).toBe('command-failed');
  });

  it('refuses a mask that could select other packages', async () => {
    const vm = azure.vm('web', 'web-1');
    const target = createAzureTarget(config(vm), { credential: credential() });
    await expect(target.install([{ package: 'open*', version: '1' }])).rejects.toMatchObject({
      code: 'bad_request',
    });
    await expect(target.install([])).rejects.toMatchObject({ code: 'bad_request' });
    expect(vm.installs).toHaveLength(0);
  });

  it('snapshots the OS disk with a copy of its managed disk', async () => {
    const vm = azure.vm('web', 'web-1');
    const target = createAzureTarget(config(vm), {
      credential: credential(),
      clock: createFakeClock('2026-03-01T10:00:00Z'),
    });
    const snap = await target.snapshot!({ label: 'pre-patch' });
    expect(snap.id).toBe(
      `/subscriptions/${SUB}/resourceGroups/web/providers/Microsoft.Compute/snapshots/web-1-pre-patch-20260301T100000`,
    );
    expect(snap.createdAt).toBeInstanceOf(Date);
    const stored = azure.snapshots.get(snap.id) as { properties: { creationData: unknown } };
    expect(stored.properties.creationData).toEqual({
      createOption: 'Copy',
      sourceResourceId: `/subscriptions/${SUB}/resourceGroups/web/providers/Microsoft.Compute/disks/web-1_OsDisk_1`,
    });
    await expect(target.snapshot!({ label: 'x; rm -rf /' })).rejects.toMatchObject({ code: 'bad_request' });
  });
});

describe('azure exec', () => {
  it('waits its turn when another client holds the VM’s Run Command', async () => {
    const vm = azure.vm('web', 'web-1').onRunCommand('sh');
    const first = createAzureTarget(config(vm), { credential: credential() });
    const second = createAzureTarget(config(vm), { credential: credential() });
    const pending = first.exec(['sh', '-c', 'sleep 0.3; echo a']);
    // Once the first script runs, the agent refuses the second (409) until it ends.
    await azure.server.waitFor((r) => r.path.endsWith('/runCommand'));
    const b = await second.exec(['echo', 'b']);
    const a = await pending;
    expect([a.stdout, b.stdout]).toEqual(['a\n', 'b\n']);
    expect(azure.server.requests.some((r) => r.response?.status === 409)).toBe(true);
  });

  it('runs Windows commands as single-quoted PowerShell and reads the exit code it prints', async () => {
    const vm = azure
      .vm('ops', 'win-1', { osType: 'Windows' })
      .onRunCommand(() => ({ stdout: 'hello\r\n\r\nwarden-exit=3\r\n' }));
    const result = await createAzureTarget(config(vm), { credential: credential() }).exec([
      'C:\\app.exe',
      "a'b",
      '$(x)',
    ]);
    expect(result).toMatchObject({ exitCode: 3, stdout: 'hello\r\n', timedOut: false });
    expect(vm.scripts[0]).toContain("& 'C:\\app.exe' 'a''b' '$(x)'");
  });
});
