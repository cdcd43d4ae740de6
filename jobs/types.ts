import type { Deps } from '../commands/deps.js';

/**
 * One file per job type exports a JobSpec; jobs/scheduler.ts registers them with agenda.
 * A job only triggers a command: the logic lives in commands/.
 */
export interface JobSpec<Data extends Record<string, unknown> = Record<string, unknown>> {
  name: string;
  /** Run on this interval (human-interval, e.g. '30 seconds') or cron; unset: only when scheduled. */
  every?: string;
  timezone?: string;
  /** How many of this job may run at once in one process. */
  concurrency?: number;
  /** Lock lifetime: a job still locked after this is considered dead and retried elsewhere. */
  lockLifetimeMs?: number;
  run(data: Data, deps: Deps): Promise<void>;
}
