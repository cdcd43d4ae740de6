import { dispatchDuePlans, type EnqueueJob } from '../commands/patching/dispatch.js';
import type { JobSpec } from './types.js';

/**
 * Every 30 seconds: start the scheduled patch plans whose window has opened (enqueue `patch-run`
 * with `{ planId }`), move those whose window was missed, supersede those that changed since they
 * were approved. The plan rows are the schedule (commands/patching/dispatch.ts); `enqueue` is the
 * scheduler's `now`, passed in because the scheduler is built after the job list.
 *
 * @example
 * const scheduler = createScheduler({ ..., jobs: [patchWindowJob((name, data) => scheduler.now(name, data))] });
 */
export function patchWindowJob(enqueue: EnqueueJob): JobSpec {
  return {
    name: 'patch-window',
    every: '30 seconds',
    concurrency: 1,
    lockLifetimeMs: 5 * 60_000,
    async run(_data, deps) {
      const result = await dispatchDuePlans(deps, enqueue);
      if (result.enqueued.length || result.rescheduled.length || result.superseded.length) {
        deps.log.info(result, 'patch windows dispatched');
      }
    },
  };
}
