import { startDueScans } from '../commands/scanning/schedule.js';
import { sweepInterruptedScans } from '../commands/scanning/sweep.js';
import type { JobSpec } from './types.js';

/**
 * Every 15 minutes: mark batches whose process died as interrupted, then start a scan of every
 * project whose schedule (projects.settings.scan, default every 7 days) is due. One job that
 * checks every project, rather than one agenda entry per project, so a schedule edited in the
 * project settings takes effect at the next tick with nothing to re-register. The batches run in
 * the background of this process; the job itself ends at once.
 */
export const scanDueJob: JobSpec = {
  name: 'scan-due',
  every: '15 minutes',
  concurrency: 1,
  lockLifetimeMs: 5 * 60_000,
  async run(_data, deps) {
    await sweepInterruptedScans(deps);
    const { started } = await startDueScans(deps);
    if (started.length > 0) {
      deps.log.info(
        { batches: started.map((b) => b.id), projects: started.map((b) => b.scopeValue) },
        'started scheduled scans',
      );
    }
  },
};
