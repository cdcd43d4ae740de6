import { startFakeSsm } from '../../../test/fakes/ssm.js';
import { ensureTestUser } from '../../../test/sshd.js';
import { runTargetContract } from '../contract.js';
import { SSM_INLINE_STDOUT_CHARS } from './exec.js';
import { createSsmTarget } from './index.js';

const isRoot = process.getuid?.() === 0;
const INSTANCE = 'i-0123456789abcdef0';

// The fake agent runs the received AWS-RunShellScript commands with /bin/sh on this machine, so
// the hostile-argv tests go through a real shell, as they would on the instance.
runTargetContract(
  'aws-ssm',
  async () => {
    const ssm = await startFakeSsm({ accessKeyId: 'AKIDCONTRACT' });
    ssm.instance(INSTANCE, { PlatformName: 'Ubuntu', PlatformVersion: '22.04' }).onShell('sh');
    const target = createSsmTarget({
      region: 'us-east-1',
      endpoint: ssm.url,
      credentials: { accessKeyId: 'AKIDCONTRACT', secretAccessKey: 'secret' },
      instanceId: INSTANCE,
      pollIntervalMs: 10,
      maxPollIntervalMs: 50,
    });
    return {
      target,
      keyLogin: isRoot ? ensureTestUser('wardenssm') && 'wardenssm' : undefined,
      dispose: async () => {
        ssm.verify();
        await ssm.stop();
      },
    };
  },
  {
    // The agent runs as root; without root here the key script would edit this user's own file.
    skipKeys: isRoot ? null : 'not root: the fake agent runs the key script as this user',
    outputLimit: SSM_INLINE_STDOUT_CHARS,
  },
);
