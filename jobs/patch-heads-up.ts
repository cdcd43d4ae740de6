import { sendHeadsUps } from '../commands/patching/heads-up.js';
import type { JobSpec } from './types.js';

/** Every minute: the heads-up to the project channel before a scheduled patch window (once per window). */
export const patchHeadsUpJob: JobSpec = {
  name: 'patch-heads-up',
  every: '1 minute',
  concurrency: 1,
  lockLifetimeMs: 2 * 60_000,
  async run(_data, deps) {
    const sent = await sendHeadsUps(deps);
    if (sent.length) deps.log.info({ plans: sent }, 'patch heads-ups sent');
  },
};
