import { rotateDueKeys } from '../commands/keys/rotate-due.js';
import type { JobSpec } from './types.js';

/**
 * Every 10 minutes: register the service keys the scanning core uses, finish or clean up
 * rotations a dead process left, and rotate the service keys whose project policy says they are
 * due (used or not), three at a time. Each project concerned gets a summary in its channel;
 * failures also alert its security channel. Policies go down to one hour, so 10 minutes is
 * fine-grained enough without keeping servers busy.
 */
export const keysRotateJob: JobSpec = {
  name: 'keys-rotate',
  every: '10 minutes',
  concurrency: 1,
  // A run rotates several keys over SSH; give it time before another replica takes over.
  lockLifetimeMs: 30 * 60_000,
  async run(_data, deps) {
    const summary = await rotateDueKeys(deps, { concurrency: 3 });
    if (summary.due > 0 || summary.recovered > 0) {
      deps.log.info(
        {
          due: summary.due,
          recovered: summary.recovered,
          statuses: summary.outcomes.map((o) => o.status),
        },
        'key rotation run finished',
      );
    }
  },
};
