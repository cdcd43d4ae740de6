import { runDueBaselines } from '../commands/baselines/due.js';
import type { JobSpec } from './types.js';

/**
 * Every 5 minutes: run the configuration baseline on each server scanned successfully since its
 * last baseline run, so baselines run "with scans" without slowing the scan batch down. Drifts
 * alert the project's channel once (commands/baselines/run.ts).
 */
export const baselineDueJob: JobSpec = {
  name: 'baseline-due',
  every: '5 minutes',
  concurrency: 1,
  lockLifetimeMs: 30 * 60_000,
  async run(_data, deps) {
    const outcomes = await runDueBaselines(deps, { limit: 200, concurrency: 4 });
    const drifted = outcomes.flatMap((o) => o.drifted.map((c) => `${o.serverName}:${c}`));
    if (outcomes.length > 0) {
      deps.log.info({ servers: outcomes.length, drifted }, 'baseline run after scans finished');
    }
  },
};
