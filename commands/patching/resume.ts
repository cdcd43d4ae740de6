import { listInterruptedRuns } from '../../storage/patch-runs.js';
import type { Deps } from '../deps.js';
import { type ExecuteRunOptions, executeRun, type RunResult } from './run.js';

/**
 * Runs left in 'running' by a process that died (its lease ran out, or, at embedded start-up,
 * every one: no other process exists) are taken up again. executeRun carries each server on from
 * its recorded state; a server that was installing is checked before anything is installed again.
 */
export interface ResumeOptions extends ExecuteRunOptions {
  /** Take runs whose lease is still live (embedded start-up: the lease holder is this process's dead predecessor). */
  force?: boolean;
}

/**
 * @example
 * await resumeInterruptedRuns(deps, { force: config.embedded }); // at start-up
 */
export async function resumeInterruptedRuns(deps: Deps, options: ResumeOptions = {}): Promise<RunResult[]> {
  const ids = await listInterruptedRuns(deps.sql, { now: deps.clock.now(), force: options.force ?? false });
  if (ids.length > 0) deps.log.info({ plans: ids }, 'resuming interrupted patch runs');
  return Promise.all(
    ids.map((planId) =>
      executeRun(deps, planId, options).catch((error: unknown): RunResult => {
        deps.log.error({ err: error, planId }, 'could not resume a patch run');
        return {
          planId,
          ran: false,
          reason: error instanceof Error ? error.message : String(error),
          servers: [],
        };
      }),
    ),
  );
}
