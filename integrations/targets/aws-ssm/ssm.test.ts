import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFakeClock } from '../../../lib/clock.js';
import { type FakeSsm, startFakeSsm } from '../../../test/fakes/ssm.js';
import { classifyTargetError } from '../errors.js';
import { SSM_INLINE_STDOUT_CHARS } from './exec.js';
import { createSsmTarget, type SsmTargetConfig } from './index.js';

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

describe('aws-ssm exec', () => {
  it('retries ThrottlingException on SendCommand and GetCommandInvocation', async () => {
    ssm.instance(LINUX).onShell(() => ({ stdout: 'ok\n' }));
    ssm.throttleNext('SendCommand', 1);
    // Three in a row outlast the SDK's two attempts: the poll loop itself backs off and asks again.
    ssm.throttleNext('GetCommandInvocation', 3);
    const result = await createSsmTarget(config({ maxAttempts: 2 })).exec(['echo', 'ok']);
    expect(result).toMatchObject({ exitCode: 0, stdout: 'ok\n' });
    expect(ssm.server.requests.filter((r) => r.response?.status === 400)).toHaveLength(4);
    expect(ssm.calls('SendCommand')).toHaveLength(1);
  });

  it('gives a clear unreachable error for an instance SSM does not manage', async () => {
    const error = await createSsmTarget(config({ instanceId: 'i-0fffffffffffffff9' }))
      .exec(['true'])
      .catch((e: unknown) => e);
    expect(classifyTargetError(error)).toBe('unreachable');
    expect(String(error)).toMatch(/i-0fffffffffffffff9 is not a managed node SSM can reach/);
  });

  it('refuses an instance id that is not one before calling AWS', () => {
    expect(() => createSsmTarget(config({ instanceId: 'i-1; rm -rf /' }))).toThrow(
      /not an SSM managed node id/,
    );
  });

  it('cancels a command that outlives its timeout and reports the timeout', async () => {
    ssm.instance(LINUX).onShell(() => ({ hang: true }));
    const result = await createSsmTarget(config()).exec(['sleep', '100'], { timeoutMs: 150 });
    expect(result).toMatchObject({ timedOut: true, exitCode: null });
    expect(ssm.calls('CancelCommand')).toEqual([{ CommandId: expect.any(String), InstanceIds: [LINUX] }]);
    expect(ssm.calls('SendCommand')[0]).toMatchObject({
      Parameters: { executionTimeout: ['1'] },
      TimeoutSeconds: 30,
    });
  });

  it('reports SSM’s own cut of a long output as truncated', async () => {
    ssm.instance(LINUX).onShell(() => ({ stdout: 'x'.repeat(30_000), stderr: 'e'.repeat(9_000) }));
    const result = await createSsmTarget(config()).exec(['big']);
    expect(result.truncated).toBe(true);
    expect(result.stdout).toBe('x'.repeat(SSM_INLINE_STDOUT_CHARS));
    expect(result.stderr.endsWith('---Error truncated----')).toBe(false);
  });

  it('runs Windows instances through AWS-RunPowerShellScript with every argument single-quoted', async () => {
    const windows = ssm
      .instance('i-0ccccccccccccccc3', {
        PlatformType: 'Windows',
        PlatformName: 'Microsoft Windows Server 2022 Datacenter',
      })
      .onShell(() => ({ stdout: 'done' }));
    const target = createSsmTarget(config({ instanceId: 'i-0ccccccccccccccc3' }));
    await target.exec(['C:\\tools\\app.exe', "it's ’quoted’", '$(evil)'], {
      env: { MODE: 'a;b' },
      stdin: 'in',
    });
    expect(ssm.calls('SendCommand')[0]).toMatchObject({ DocumentName: 'AWS-RunPowerShellScript' });
    expect(windows.scripts[0]).toBe(
      [
        "$ErrorActionPreference = 'Continue'",
        "$env:MODE = 'a;b'",
        "'in' | & 'C:\\tools\\app.exe' 'it''s ’’quoted’’' '$(evil)'",
        'exit $LASTEXITCODE',
      ].join('\n'),
    );
    await expect(target.addAuthorizedKey('root', 'ssh-ed25519 AAAA x', 'tag')).rejects.toThrow(
      /runs Windows/,
    );
  });

  it('signs with keys from an assumed role', async () => {
    const roles = {
      'arn:aws:iam::123456789012:role/Warden': {
        accessKeyId: 'ASIATEMP',
        secretAccessKey: 's',
        sessionToken: 't',
      },
    };
    await ssm.stop();
    ssm = await startFakeSsm({ accessKeyId: KEY, region: 'eu-west-1', roles });
    ssm.instance(LINUX).onShell(() => ({ stdout: 'hi' }));
    const target = createSsmTarget(config({ roleArn: 'arn:aws:iam::123456789012:role/Warden' }));
    expect((await target.exec(['echo'])).stdout).toBe('hi');
    expect((await target.exec(['echo'])).stdout).toBe('hi');
    const sts = ssm.server.requests.filter((r) => r.contentType === 'application/x-www-form-urlencoded');
    expect(sts).toHaveLength(1);
    const signedWithTemp = ssm.server.requests.filter((r) =>
      r.headers.authorization?.includes('Credential=ASIATEMP/'),
    );
    expect(signedWithTemp.length).toBeGreaterThanOrEqual(4);
  });
});

describe('aws-ssm install', () => {
  it('sends an InstallOverrideList when a place to publish it is configured', async () => {
    const instance = ssm.instance(LINUX);
    let published = '';
    const target = createSsmTarget(config(), {
      clock: createFakeClock('2026-03-01T10:00:00Z'),
      publishInstallList: async (yaml, name) => {
        published = yaml;
        return `https://patch-lists.example/${name}`;
      },
    });
    const result = await target.install([
      { package: 'kernel-modules', version: '4.18.0-305.10.2.el8_4', arch: 'x86_64' },
      { package: 'NetworkManager', version: '1:1.30.0-7.el8', arch: 'x86_64' },
    ]);
    expect(published).toBe(
      [
        'patches:',
        '  - id: kernel-modules.x86_64',
        '    title: kernel-modules.x86_64:0:4.18.0-305.10.2.el8_4',
        '  - id: NetworkManager.x86_64',
        '    title: NetworkManager.x86_64:1:1.30.0-7.el8',
        '',
      ].join('\n'),
    );
    expect(instance.patchRuns[0]).toEqual({
      operation: 'Install',
      rebootOption: 'NoReboot',
      installOverrideList: `https://patch-lists.example/warden-${LINUX}-${Date.parse('2026-03-01T10:00:00Z')}.yaml`,
    });
    expect(result.items.map((item) => item.status)).toEqual(['installed', 'installed']);
  });

  it('falls back to the package manager through AWS-RunShellScript without a published list', async () => {
    const instance = ssm.instance(LINUX).onShell(() => ({ stdout: '' }));
    const result = await createSsmTarget(config()).install(
      [{ package: 'openssl', version: '3.0.2-0ubuntu1.15' }],
      {
        family: 'debian',
      },
    );
    expect(result.items[0]?.status).toBe('installed');
    expect(instance.scripts.join('\n')).toContain("'openssl=3.0.2-0ubuntu1.15'");
    expect(instance.scripts.join('\n')).not.toContain('sudo');
  });

  it('refuses a package name Patch Manager could misread', async () => {
    ssm.instance(LINUX);
    const target = createSsmTarget(config(), { publishInstallList: async () => 'https://x.example/l.yaml' });
    await expect(target.install([{ package: 'x\nid: evil', version: '1' }])).rejects.toMatchObject({
      code: 'bad_request',
    });
  });
});
