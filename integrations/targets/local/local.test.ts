import { ensureTestUser } from '../../../test/sshd.js';
import { runTargetContract } from '../contract.js';
import { createLocalTarget } from './index.js';

const isRoot = process.getuid?.() === 0;

runTargetContract(
  'local',
  async () => ({
    target: createLocalTarget(),
    keyLogin: isRoot ? ensureTestUser('wardenlocal') && 'wardenlocal' : undefined,
  }),
  {
    // Editing another account's keys needs root; a non-root run must not touch the user's own file.
    skipKeys: isRoot ? null : 'not root: the key tests edit a dedicated test account',
  },
);
