import { resumeInterruptedRuns } from '../commands/patching/resume.js';
import { executeRun } from '../commands/patching/run.js';
import { isAppError } from '../lib/errors.js';
import type { JobSpec } from './types.js';

/**
 * `patch-run` with { planId }: runs one approved, scheduled plan (enqueued at its window's start by
 * the patch-window job). A run lasts as long as its window, so the lock outlives it; if this
 * process dies, `patch-resume` takes the run up once its lease runs out.
 */
export const patchRunJob: JobSpec<{ planId?: unknown }> = {
  name: 'patch-run',
  concurrency: 4,
  lockLifetimeMs: 12 * 60 * 60_000,
  async run(data, deps) {
    const planId = Number(data.planId);
    if (!Number.isSafeInteger(planId) || planId < 1) {
      deps.log.warn({ data }, 'patch-run job without a valid planId; ignored');
      return;
    }
    try {
      const result = await executeRun(deps, planId);
      deps.log.info(
        { planId, ran: result.ran, outcome: result.outcome, reason: result.reason },
        'patch run ended',
      );
    } catch (error) {
      // A refused plan (changed after approval, not scheduled) is already on the trail and in its thread.
      if (isAppError(error) && (error.code === 'conflict' || error.code === 'not_found')) {
        deps.log.warn({ planId, err: error }, 'patch run refused');
        return;
      }
      throw error;
    }
  },
};

/**
 * Every minute: runs whose process died (lease expired) are resumed here, in the background so
 * this job ends at once; each run's lease keeps two processes from taking the same one.
 */
export const patchResumeJob: JobSpec = {
  name: 'patch-resume',
  every: '1 minute',
  concurrency: 1,
  async run(_data, deps) {
    void resumeInterruptedRuns(deps).catch((err: unknown) =>
      deps.log.error({ err }, 'resuming patch runs failed'),
    );
  },
};
