import { type SshdHandle, sshdUnavailableReason, startSshd } from '../../../test/sshd.js';
import { runTargetContract } from '../contract.js';
import { createSshConnectionPool, createSshTarget } from './index.js';

const reason = sshdUnavailableReason();
if (reason) console.warn(`ssh target contract skipped: ${reason}`);

runTargetContract(
  'ssh',
  async () => {
    const sshd: SshdHandle = await startSshd({ users: ['wardenssh'] });
    const pool = createSshConnectionPool();
    const target = createSshTarget(
      {
        host: sshd.host,
        port: sshd.port,
        user: sshd.user,
        privateKey: sshd.clientKey.privateKey,
        hostKey: sshd.hostKeyFingerprint,
      },
      { pool },
    );
    return {
      target,
      keyLogin: sshd.user,
      dispose: async () => {
        pool.close();
        await sshd.stop();
      },
    };
  },
  { skip: reason },
);
