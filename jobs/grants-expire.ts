import { expireGrants } from '../commands/access/expire.js';
import type { JobSpec } from './types.js';

/** Every minute: end grants whose time is up, remove their keys (checked gone), finish due installs. */
export const grantsExpireJob: JobSpec = {
  name: 'grants-expire',
  every: '1 minute',
  concurrency: 1,
  lockLifetimeMs: 10 * 60_000,
  async run(_data, deps) {
    const result = await expireGrants(deps);
    if (result.work.failed) {
      deps.log.warn(
        { failed: result.work.failed },
        'some grant keys could not be installed or removed; retrying',
      );
    }
  },
};
