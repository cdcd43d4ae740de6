import { randomBytes } from 'node:crypto';
import { isAppError } from '../../lib/errors.js';
import { withTx } from '../../storage/db.js';
import {
  claimNextRunServer,
  closePendingRunServers,
  finishRunServer,
  getRun,
  listRunServers,
  type RunRow,
  type RunServerResult,
  type RunServerRow,
  type RunStatus,
  setRunStatus,
  touchRun,
} from '../../storage/script-runs.js';
import {
  getCurrentScriptVersion,
  getScriptVersionById,
  type ScriptVersionRow,
} from '../../storage/scripts.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { MAX_SERVER_REPLIES, runMessage, runRef, serverReply, summaryReply } from './render.js';
import { runOnServer } from './server-run.js';
import { versionBlocker } from './versions.js';

/**
 * Executes a queued run: claims it (queued → running, so a second delivery does nothing), then
 * fans out over its servers with at most `concurrency` at once. Each worker claims the next
 * pending server row, so a cancel (which closes the pending rows) stops the rest at once. Every
 * server's exit code, duration and output are stored and told in the run's thread.
 */
export interface ExecuteOptions {
  /** Cap on each of stdout and stderr kept per server. Default 1 MiB. */
  maxOutputBytes?: number;
  /** How often a long run refreshes its heartbeat (so the sweep can tell it is alive). Default 60 s. */
  heartbeatMs?: number;
}

export interface RunOutcome {
  run: RunRow;
  servers: RunServerRow[];
}

const DEFAULT_MAX_OUTPUT = 1024 * 1024;

function messageOf(error: unknown): string {
  return (isAppError(error) || error instanceof Error ? error.message : String(error)).slice(0, 500);
}

function finalStatus(servers: readonly RunServerRow[]): RunStatus {
  const ran = servers.filter((s) => s.status !== 'skipped');
  const ok = ran.filter((s) => s.status === 'succeeded').length;
  if (ran.length > 0 && ok === ran.length) return 'succeeded';
  return ok === 0 ? 'failed' : 'partially-failed';
}

async function recordServer(
  deps: Deps,
  run: RunRow,
  row: RunServerRow,
  result: RunServerResult,
  index: number,
): Promise<void> {
  await withTx(deps.sql, async (tx) => {
    // A cancel between the claim and now: a script that died of a signal was stopped by it.
    const current = await getRun(tx, run.id);
    const stoppedByCancel =
      current?.status === 'cancelled' && (result.signal !== null || (result.exitCode ?? 0) >= 128);
    const final: RunServerResult = stoppedByCancel
      ? { ...result, status: 'cancelled', error: 'stopped by the cancel' }
      : result;
    const now = deps.clock.now();
    const finished = await finishRunServer(tx, row.id, final, now);
    await touchRun(tx, run.id, now);
    await recordEvent(
      tx,
      deps,
      {
        actor: `job:script-run`,
        action: 'script-run.server-finished',
        subject: runRef(run.id),
        projectId: run.projectId,
        data: {
          runId: run.id,
          script: run.scriptName,
          version: run.version,
          server: row.serverName,
          status: finished.status,
          exitCode: finished.exitCode,
          signal: finished.signal,
          timedOut: finished.timedOut,
          durationMs: finished.durationMs,
          error: finished.error,
        },
      },
      index < MAX_SERVER_REPLIES ? [serverReply(deps.config.publicUrl, run, finished, final)] : [],
    );
  });
  deps.kickOutbox?.();
}

/** Run is not runnable any more (version replaced or not reviewed): end it without touching a server. */
async function refuse(
  deps: Deps,
  run: RunRow,
  version: ScriptVersionRow | undefined,
  reason: string,
): Promise<void> {
  await withTx(deps.sql, async (tx) => {
    const now = deps.clock.now();
    await closePendingRunServers(tx, run.id, { status: 'error', error: 'not run', at: now });
    await setRunStatus(tx, run.id, { from: ['running'], to: 'failed', at: now, error: reason });
    const ended = (await getRun(tx, run.id))!;
    const servers = await listRunServers(tx, run.id);
    await recordEvent(
      tx,
      deps,
      {
        actor: 'job:script-run',
        action: 'script-run.refused',
        subject: runRef(run.id),
        projectId: run.projectId,
        data: { runId: run.id, script: run.scriptName, version: run.version, reason },
      },
      [
        {
          kind: 'subject-message',
          subject: runRef(run.id),
          projectId: run.projectId,
          reply: runMessage(
            ended,
            { risk: version?.risk ?? 'high' },
            servers,
            run.requestedRef.replace(/^user:/, ''),
          ),
        },
        summaryReply(ended, servers),
      ],
    );
  });
  deps.kickOutbox?.();
}

/**
 * Execute run `runId` to the end and return every server's result; undefined when the run was
 * not queued (already taken by another delivery, cancelled, or waiting for approval).
 */
export async function executeRun(
  deps: Deps,
  runId: number,
  options: ExecuteOptions = {},
): Promise<RunOutcome | undefined> {
  if (!(await claimRun(deps, runId))) return undefined;
  return executeClaimedRun(deps, runId, options);
}

/** queued → running; false when the run is not queued (taken, cancelled, waiting for approval). */
export function claimRun(deps: Deps, runId: number): Promise<boolean> {
  return setRunStatus(deps.sql, runId, { from: ['queued'], to: 'running', at: deps.clock.now() });
}

/** The fan-out of a run this process claimed with claimRun. */
export async function executeClaimedRun(
  deps: Deps,
  runId: number,
  options: ExecuteOptions = {},
): Promise<RunOutcome> {
  const run = (await getRun(deps.sql, runId))!;
  const version = await getScriptVersionById(deps.sql, run.versionId);
  const current = await getCurrentScriptVersion(deps.sql, run.scriptName);
  const blocker = version
    ? versionBlocker(version, current?.id ?? null)
    : 'its script version no longer exists';
  if (!version || blocker) {
    await refuse(deps, run, version, blocker ?? 'its script version no longer exists');
    return { run: (await getRun(deps.sql, runId))!, servers: await listRunServers(deps.sql, runId) };
  }

  const heartbeat = setInterval(() => {
    void touchRun(deps.sql, run.id, deps.clock.now()).catch(() => undefined);
  }, options.heartbeatMs ?? 60_000);
  heartbeat.unref();
  let index = 0;
  const maxOutput = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  async function worker(): Promise<void> {
    for (;;) {
      const row = await claimNextRunServer(deps.sql, run.id, {
        at: deps.clock.now(),
        cancelToken: randomBytes(12).toString('hex'),
      });
      if (!row) return;
      const result = await runOnServer(deps, run, version!, row, maxOutput);
      await recordServer(deps, run, row, result, index++);
    }
  }
  try {
    const total = (await listRunServers(deps.sql, run.id)).length;
    await Promise.all(Array.from({ length: Math.max(1, Math.min(run.concurrency, total)) }, worker));
  } catch (error) {
    // Results could not be recorded (database trouble): end the run rather than leave it running.
    const now = deps.clock.now();
    await closePendingRunServers(deps.sql, run.id, {
      status: 'error',
      error: 'not run: the run failed',
      at: now,
    }).catch(() => []);
    await setRunStatus(deps.sql, run.id, {
      from: ['running'],
      to: 'failed',
      at: now,
      error: `Warden failed while running it: ${messageOf(error)}`,
    }).catch(() => false);
    throw error;
  } finally {
    clearInterval(heartbeat);
  }

  await withTx(deps.sql, async (tx) => {
    const servers = await listRunServers(tx, run.id);
    const now = deps.clock.now();
    // Cancelled meanwhile: the status stays, the summary still tells each server's end.
    await setRunStatus(tx, run.id, { from: ['running'], to: finalStatus(servers), at: now });
    const ended = (await getRun(tx, run.id))!;
    await recordEvent(
      tx,
      deps,
      {
        actor: 'job:script-run',
        action: 'script-run.finished',
        subject: runRef(run.id),
        projectId: run.projectId,
        data: {
          runId: run.id,
          script: run.scriptName,
          version: run.version,
          status: ended.status,
          servers: servers.length,
          succeeded: servers.filter((s) => s.status === 'succeeded').length,
        },
      },
      [
        {
          kind: 'subject-message',
          subject: runRef(run.id),
          projectId: run.projectId,
          reply: runMessage(ended, version, servers, run.requestedRef.replace(/^user:/, '')),
        },
        summaryReply(ended, servers),
      ],
    );
  });
  deps.kickOutbox?.();
  return { run: (await getRun(deps.sql, runId))!, servers: await listRunServers(deps.sql, runId) };
}
