import type { Notification, SubjectRef } from '../../bot/chat/model.js';
import type { Target } from '../../integrations/targets/types.js';
import { IntegrationError } from '../../lib/errors.js';
import { withTx } from '../../storage/db.js';
import type { Server } from '../../storage/inventory.js';
import {
  finishBatch,
  getBatch,
  getServersByIds,
  insertOutboxItems,
  insertScan,
  type ScanBatch,
  touchBatch,
  updateBatchProgress,
} from '../../storage/scans.js';
import { recordEvent, subjectOrderingKey } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { messageOf, scanErrorKind } from './errors.js';
import { projectSummaries } from './project-summaries.js';
import { failureOfProblems, recordScanFailure, recordScanSuccess } from './record.js';
import { type ProgressView, progressReply, type ServerOutcome } from './summary.js';
import { createTargetFactory, type TargetFactory } from './target-factory.js';

/**
 * Runs a batch: every server scanned with bounded concurrency (the factory's limiter), each one
 * isolated (a failure is recorded with its reason and the others go on), progress written to the
 * batch row and its chat message at most every couple of seconds, and, at the end, the batch
 * closed with a summary per project on the trail and in chat.
 */
export interface RunBatchOptions {
  /** Default: deps.targets, else a factory made (and closed) for this batch alone. */
  targets?: TargetFactory;
  /** Least time between two progress edits, by deps.clock (default 2 s). */
  progressIntervalMs?: number;
  /** How often a running batch proves it is alive, in real time (default 30 s). */
  heartbeatMs?: number;
  /** Per-server scan timeout (default: the target's own, 15 min). */
  scanTimeoutMs?: number;
}

export interface BatchOutcome {
  batch: ScanBatch;
  outcomes: ServerOutcome[];
  /** False when the batch had already ended (e.g. swept as interrupted) and was left alone. */
  finished: boolean;
}

export const PROGRESS_INTERVAL_MS = 2_000;
export const HEARTBEAT_MS = 30_000;

export function batchSubject(batchId: number): SubjectRef {
  return { type: 'scan-batch', id: String(batchId) };
}

export function progressView(
  batch: ScanBatch,
  done: number,
  failed: number,
  state: ProgressView['state'],
): ProgressView {
  return {
    batchId: batch.id,
    scopeLabel:
      batch.scopeKind === 'all'
        ? 'all servers'
        : batch.scopeKind === 'project'
          ? `project ${batch.scopeValue}`
          : (batch.scopeValue ?? ''),
    scopeArg: batch.scopeValue ?? 'all',
    requestedBy: batch.requestedRef.replace(/^user:/, '').replace(/^job:scan-due$/, 'the schedule'),
    total: batch.total,
    done,
    failed,
    state,
  };
}

/** Scans one server and records the result; never throws (a failure is an outcome). */
export async function scanServer(
  deps: Deps,
  targets: TargetFactory,
  server: Server,
  context: { batchId: number | null; triggeredBy: string; timeoutMs?: number },
): Promise<ServerOutcome> {
  const base = { serverId: server.id, serverName: server.name, projectId: server.projectId };
  let scanId: number | null = null;
  try {
    const id = await insertScan(deps.sql, {
      batchId: context.batchId,
      serverId: server.id,
      projectId: server.projectId,
      triggeredBy: context.triggeredBy,
      at: deps.clock.now(),
    });
    scanId = id;
    let target: Target | undefined;
    try {
      target = await targets.forServer(server, deps);
      const result = await target.scan(context.timeoutMs ? { timeoutMs: context.timeoutMs } : {});
      const unusable = failureOfProblems(result.problems);
      if (unusable) {
        await recordScanFailure(deps, server, id, {
          ...unusable,
          method: result.method,
          problems: result.problems,
        });
        return {
          ...base,
          scanId,
          status: 'failed',
          errorKind: unusable.kind,
          errorMessage: unusable.message,
        };
      }
      const counts = await recordScanSuccess(deps, server, id, result);
      return { ...base, scanId, status: 'succeeded', ...(counts ? { counts } : {}) };
    } catch (error) {
      const kind = scanErrorKind(error);
      const message = messageOf(error);
      const details = error instanceof IntegrationError ? error.details : undefined;
      await recordScanFailure(deps, server, id, { kind, message, details });
      return { ...base, scanId, status: 'failed', errorKind: kind, errorMessage: message };
    } finally {
      await target?.close().catch(() => {});
    }
  } catch (error) {
    // Recording itself failed (database gone): the batch still goes on and reports it.
    deps.log.error({ err: error, server: server.name }, 'could not record a scan result');
    return { ...base, scanId, status: 'failed', errorKind: 'command-failed', errorMessage: messageOf(error) };
  }
}

/** The batch's progress message, straight to the outbox (an edit is not worth an audit event). */
async function writeProgress(
  deps: Deps,
  batch: ScanBatch,
  done: number,
  failed: number,
  seq: number,
): Promise<void> {
  const subject = batchSubject(batch.id);
  const notification: Notification = {
    kind: 'subject-message',
    subject,
    projectId: batch.projectId,
    reply: progressReply(progressView(batch, done, failed, 'running')),
  };
  const at = deps.clock.now();
  await withTx(deps.sql, async (tx) => {
    await updateBatchProgress(tx, batch.id, { done, failed, heartbeatAt: at });
    await insertOutboxItems(
      tx,
      deps.chatPlatforms.map((platform) => ({
        channel: platform,
        kind: notification.kind,
        payload: notification as unknown as Record<string, unknown>,
        idempotencyKey: `scan-batch:${batch.id}:progress:${seq}:${platform}`,
        orderingKey: subjectOrderingKey(platform, subject),
        at,
      })),
    );
  });
  deps.kickOutbox?.();
}

/**
 * @example
 * const { batch } = await startScan(deps, actor, { scope: 'demo' });   // runs it in the background
 * await runScanBatch(deps, batch.id);                                   // or run one directly (jobs, tests)
 */
export async function runScanBatch(
  deps: Deps,
  batchId: number,
  options: RunBatchOptions = {},
): Promise<BatchOutcome> {
  const own = (options.targets ?? deps.targets) ? undefined : createTargetFactory();
  const targets = options.targets ?? deps.targets ?? own!;
  const batch = await getBatch(deps.sql, batchId);
  if (!batch || batch.status !== 'running') {
    await own?.close();
    if (!batch) throw new Error(`scan batch ${batchId} does not exist`);
    return { batch, outcomes: [], finished: false };
  }
  const interval = options.progressIntervalMs ?? PROGRESS_INTERVAL_MS;
  const heartbeat = setInterval(() => {
    touchBatch(deps.sql, batch.id, deps.clock.now()).catch((err: unknown) =>
      deps.log.warn({ err, batch: batch.id }, 'scan batch heartbeat failed'),
    );
  }, options.heartbeatMs ?? HEARTBEAT_MS);
  heartbeat.unref();

  let done = 0;
  let failed = 0;
  let seq = 0;
  let lastFlush = deps.clock.now().getTime();
  let flushing: Promise<void> = Promise.resolve();
  const outcomes: ServerOutcome[] = [];
  const note = (outcome: ServerOutcome): void => {
    outcomes.push(outcome);
    done++;
    if (outcome.status === 'failed') failed++;
    const now = deps.clock.now().getTime();
    if (done < batch.total && now - lastFlush >= interval) {
      lastFlush = now;
      const snapshot = { done, failed, seq: ++seq };
      flushing = flushing
        .then(() => writeProgress(deps, batch, snapshot.done, snapshot.failed, snapshot.seq))
        .catch((err: unknown) => deps.log.warn({ err, batch: batch.id }, 'scan progress update failed'));
    }
  };

  try {
    const servers = await getServersByIds(deps.sql, batch.serverIds);
    const found = new Set(servers.map((s) => s.id));
    for (const id of batch.serverIds) {
      if (found.has(id)) continue;
      note({
        serverId: id,
        serverName: `#${id}`,
        projectId: null,
        scanId: null,
        status: 'failed',
        errorKind: 'not-configured',
        errorMessage: 'The server was removed from the inventory before it was scanned.',
        removed: true,
      });
    }
    const context = { batchId: batch.id, triggeredBy: batch.triggeredBy, timeoutMs: options.scanTimeoutMs };
    await Promise.all(
      servers.map((server) =>
        targets.limiter.run(server.provider, () => scanServer(deps, targets, server, context)).then(note),
      ),
    );
    await flushing;
    const finished = await finishWithSummary(deps, batch, outcomes, done, failed);
    return { batch: (await getBatch(deps.sql, batch.id)) ?? batch, outcomes, finished };
  } finally {
    clearInterval(heartbeat);
    if (own) await own.close();
  }
}

async function finishWithSummary(
  deps: Deps,
  batch: ScanBatch,
  outcomes: ServerOutcome[],
  done: number,
  failed: number,
): Promise<boolean> {
  const summaries = await projectSummaries(deps, batch, outcomes);
  const finished = await withTx(deps.sql, async (tx) => {
    const closed = await finishBatch(tx, batch.id, { status: 'done', done, failed, at: deps.clock.now() });
    if (!closed) return false;
    const failures = outcomes
      .filter((o) => o.status === 'failed')
      .slice(0, 50)
      .map((o) => ({ server: o.serverName, kind: o.errorKind ?? null }));
    await recordEvent(
      tx,
      deps,
      {
        actor: batch.requestedRef,
        action: 'scan.finished',
        subject: batchSubject(batch.id),
        projectId: batch.projectId,
        data: { scope: batch.scopeValue ?? 'all', total: batch.total, done, failed, failures },
      },
      [
        {
          kind: 'subject-message',
          subject: batchSubject(batch.id),
          projectId: batch.projectId,
          reply: progressReply(progressView(batch, done, failed, 'done')),
        },
        ...summaries,
      ],
    );
    return true;
  });
  if (finished) deps.kickOutbox?.();
  return finished;
}
