import { withTx } from '../../storage/db.js';
import {
  countBatchScans,
  failRunningScansOfBatch,
  finishBatch,
  lockStaleBatches,
} from '../../storage/scans.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { batchSubject, HEARTBEAT_MS, progressView } from './run-scan.js';
import { progressReply } from './summary.js';

/**
 * A batch runs in the process that started it. If that process dies, its heartbeat stops; the
 * sweep (at start-up and with the scan-due job) marks such a batch `interrupted`, fails its scans
 * still marked running with `interrupted` (their servers keep their last good results), edits the
 * batch message to say so, and puts it on the trail. Nothing is re-run by itself.
 */
export interface SweepOptions {
  /**
   * A running batch whose heartbeat is older than this is taken as dead. Default four heartbeats.
   * 0 at the start of a process that is the only one (embedded mode): every running batch is dead.
   */
  staleAfterMs?: number;
}

export const DEFAULT_STALE_BATCH_MS = 4 * HEARTBEAT_MS;

/** Returns the ids of the batches it marked interrupted. */
export async function sweepInterruptedScans(deps: Deps, options: SweepOptions = {}): Promise<number[]> {
  const now = deps.clock.now();
  const before = new Date(now.getTime() - (options.staleAfterMs ?? DEFAULT_STALE_BATCH_MS) + 1);
  const swept = await withTx(deps.sql, async (tx) => {
    const stale = await lockStaleBatches(tx, before);
    for (const batch of stale) {
      const { done, failed } = await countBatchScans(tx, batch.id);
      const cut = await failRunningScansOfBatch(tx, batch.id, {
        at: now,
        message: 'Warden stopped while this scan ran; the server keeps its last good result. Scan it again.',
      });
      await finishBatch(tx, batch.id, { status: 'interrupted', done, failed, at: now });
      await recordEvent(
        tx,
        deps,
        {
          actor: 'system',
          action: 'scan.interrupted',
          subject: batchSubject(batch.id),
          projectId: batch.projectId,
          data: {
            scope: batch.scopeValue ?? 'all',
            total: batch.total,
            done,
            failed,
            cut,
            lastHeartbeat: batch.heartbeatAt.toISOString(),
          },
        },
        [
          {
            kind: 'subject-message',
            subject: batchSubject(batch.id),
            projectId: batch.projectId,
            reply: progressReply(progressView(batch, done, failed, 'interrupted')),
          },
        ],
      );
    }
    return stale.map((b) => b.id);
  });
  if (swept.length > 0) {
    deps.log.warn({ batches: swept }, 'marked scan batches interrupted: the process running them stopped');
    deps.kickOutbox?.();
  }
  return swept;
}
