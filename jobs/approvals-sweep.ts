import { sweepApprovals } from '../commands/approvals/engine.js';
import type { JobSpec } from './types.js';

/** Every minute: expire overdue approval requests, send reminders and escalations (each once). */
export const approvalsSweepJob: JobSpec = {
  name: 'approvals-sweep',
  every: '1 minute',
  concurrency: 1,
  async run(_data, deps) {
    const result = await sweepApprovals(deps);
    if (result.failed.length)
      deps.log.warn({ failed: result.failed }, 'some approval requests could not be swept');
  },
};
