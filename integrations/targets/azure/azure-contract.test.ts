import { startFakeAzure } from '../../../test/fakes/azure.js';
import { ensureTestUser } from '../../../test/sshd.js';
import { runTargetContract } from '../contract.js';
import { AZURE_INLINE_OUTPUT_BYTES, createAzureTarget } from './index.js';

const isRoot = process.getuid?.() === 0;
const SUBSCRIPTION = '00000000-1111-4222-8333-444444444444';
const TOKEN = 'contract-token';

// The fake's Run Command executes the received script with /bin/sh on this machine, over https
// with a self-signed certificate the client is told to trust.
runTargetContract(
  'azure',
  async () => {
    const azure = await startFakeAzure({ subscriptionId: SUBSCRIPTION, token: TOKEN });
    const vm = azure.vm('contract-rg', 'contract-vm').onRunCommand('sh');
    const target = createAzureTarget(
      {
        subscriptionId: SUBSCRIPTION,
        resourceId: vm.id,
        endpoint: azure.url,
        tlsCa: azure.ca,
        pollIntervalMs: 5,
        runCommandOverheadMs: 10_000,
      },
      {
        credential: { getToken: async () => ({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) },
      },
    );
    return {
      target,
      keyLogin: isRoot ? ensureTestUser('wardenazure') && 'wardenazure' : undefined,
      dispose: async () => {
        azure.verify();
        await azure.stop();
      },
    };
  },
  {
    skipKeys: isRoot ? null : 'not root: the fake Run Command runs the key script as this user',
    outputLimit: AZURE_INLINE_OUTPUT_BYTES,
  },
);
