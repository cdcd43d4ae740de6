import { sweepInterruptedRuns } from '../commands/scripts/cancel.js';
import type { JobSpec } from './types.js';

/**
 * Every 5 minutes: script runs whose process stopped heart-beating (it died mid-run) are marked
 * interrupted, with their unfinished servers, so nobody waits for them for ever.
 */
export const scriptRunsSweepJob: JobSpec = {
  name: 'script-runs-sweep',
  every: '5 minutes',
  concurrency: 1,
  async run(_data, deps) {
    const interrupted = await sweepInterruptedRuns(deps);
    if (interrupted.length)
      deps.log.warn({ runs: interrupted }, 'script runs interrupted by a stopped process');
  },
};
