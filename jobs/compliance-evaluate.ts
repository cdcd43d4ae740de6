import { evaluateCompliance, loadStandards } from '../commands/compliance/evaluate.js';
import { rollupToday } from '../commands/compliance/rollup.js';
import { clearOrphanDirtyMarks } from '../storage/compliance.js';
import { withTx } from '../storage/db.js';
import type { JobSpec } from './types.js';

/**
 * Every 5 minutes: evaluate the fleet (the servers whose facts changed, and those whose next
 * threshold came due: states change as time passes, not only when scans arrive), send the
 * change-only alerts that raises, and refresh today's rollup row of each project, so the day's
 * last run leaves that day's figure for the trends.
 */
export const complianceEvaluateJob: JobSpec = {
  name: 'compliance-evaluate',
  every: '5 minutes',
  concurrency: 1,
  lockLifetimeMs: 10 * 60_000,
  async run(_data, deps) {
    const summary = await evaluateCompliance(deps, { actor: 'job:compliance-evaluate' });
    // Marks left by servers deleted since (a cascade may mark a server it is deleting).
    await clearOrphanDirtyMarks(deps.sql);
    const now = deps.clock.now();
    const { byProject } = await loadStandards(deps.sql, now);
    await withTx(deps.sql, (tx) =>
      rollupToday(
        tx,
        [...byProject.values()].map((p) => ({ id: p.project.id, standards: p.standards })),
        now,
      ),
    );
    if (summary.changed > 0 || summary.alerts > 0) {
      deps.log.info({ ...summary }, 'compliance evaluated');
      deps.kickOutbox?.();
    }
  },
};
