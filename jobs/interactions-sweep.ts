import { sweepInterruptedInteractions } from '../commands/interrupted.js';
import type { JobSpec } from './types.js';

/**
 * Every 2 minutes: commands and clicks that were acknowledged but whose process died before
 * finishing them (no heartbeat for 2 minutes) are marked interrupted, and each user is told by
 * direct message to check whether theirs took effect.
 */
export const interactionsSweepJob: JobSpec = {
  name: 'interactions-sweep',
  every: '2 minutes',
  concurrency: 1,
  async run(_data, deps) {
    const interrupted = await sweepInterruptedInteractions(deps);
    if (interrupted.length)
      deps.log.warn({ interactions: interrupted }, 'interactions interrupted by a stopped process');
  },
};
