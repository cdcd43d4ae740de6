import { withTx } from '../../storage/db.js';
import { listProjects, listServers } from '../../storage/inventory.js';
import { lastProjectScanStarts, lockScanSchedule, type ScanBatch } from '../../storage/scans.js';
import type { Deps } from '../deps.js';
import type { BatchOutcome, RunBatchOptions } from './run-scan.js';
import { createScanBatch, MAX_BATCH_SERVERS, runInBackground } from './scan.js';
import { scanIsDue, scanSchedule } from './settings.js';

/**
 * Scheduled scans: every project whose last whole-project scan (by hand or by schedule) is older
 * than its schedule (projects.settings.scan, default every 7 days) gets a batch, run in the
 * background like one started from chat. The batch row is written before the scan starts, so a
 * second look (another replica, the next tick) no longer finds the project due.
 */
export interface DueScans {
  started: ScanBatch[];
  /** One per started batch; jobs do not wait for them, tests may. */
  done: Promise<BatchOutcome | undefined>[];
}

export const SCHEDULE_ACTOR = 'job:scan-due';

export async function startDueScans(deps: Deps, options: RunBatchOptions = {}): Promise<DueScans> {
  const now = deps.clock.now();
  const projects = await listProjects(deps.sql, { projectIds: null });
  const candidates = projects.filter((p) => p.serverCount > 0);
  const started: ScanBatch[] = [];
  for (const project of candidates) {
    const schedule = scanSchedule(project, now);
    if (!schedule.enabled) continue;
    const batch = await withTx(deps.sql, async (tx) => {
      await lockScanSchedule(tx);
      // Read under the lock: a replica that got here first has already written its batch.
      const last = (await lastProjectScanStarts(tx, [project.id])).get(project.id);
      if (!scanIsDue(schedule, last, now)) return undefined;
      const servers = await listServers(tx, {
        projectIds: null,
        projectId: project.id,
        limit: MAX_BATCH_SERVERS,
      });
      if (servers.length === 0) return undefined;
      return createScanBatch(tx, deps, {
        kind: 'project',
        value: project.slug,
        projectId: project.id,
        servers,
        triggeredBy: 'schedule',
        requestedBy: null,
        requestedRef: SCHEDULE_ACTOR,
        data: { schedule: schedule.cron ?? `every ${Math.round((schedule.everyMs ?? 0) / 3_600_000)}h` },
      });
    });
    if (batch) started.push(batch);
  }
  if (started.length > 0) deps.kickOutbox?.();
  return { started, done: started.map((b) => runInBackground(deps, b.id, options)) };
}
