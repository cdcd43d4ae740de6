import type { Reply } from '../../bot/chat/model.js';
import { AppError } from '../../lib/errors.js';
import { lockPendingForSubject } from '../../storage/approvals.js';
import { withTx } from '../../storage/db.js';
import { getServerByName } from '../../storage/inventory.js';
import {
  closePendingRunServers,
  FINISHED_RUN_STATUSES,
  getRun,
  listRunServers,
  listStaleRuns,
  lockRun,
  type RunRow,
  type RunServerRow,
  setRunStatus,
} from '../../storage/script-runs.js';
import { getScriptVersionById } from '../../storage/scripts.js';
import { finishRequest, trailActor } from '../approvals/state.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { actorFacts } from '../inventory/scope.js';
import { type Actor, can } from '../rbac/authorize.js';
import type { Permission } from '../rbac/roles.js';
import { cancelCommand, pidFileFor } from './command.js';
import { runMessage, runRef, runStatusText, SCRIPT_RUN_SUBJECT } from './render.js';

/**
 * `run cancel <id>`: pending servers never start (their rows are closed in the same transaction,
 * so no worker can claim them), and scripts already running are sent TERM through their pid file
 * on the server; whatever does not stop is killed by the script's own timeout.
 */
export interface CancelledRun {
  run: RunRow;
  /** Servers that will not run. */
  notStarted: string[];
  /** Servers whose running script was signalled. */
  signalled: string[];
  reply: Reply;
}

const SIGNAL_TIMEOUT_MS = 15_000;
const PID_FILE_ATTEMPTS = 4;
const PID_FILE_RETRY_MS = 500;

/** The requester, or someone who may run the script on the run's project, or a script manager. */
function mayCancel(actor: Actor, run: RunRow, permission: Permission): boolean {
  return (
    actor.user.id === run.requestedBy ||
    can(actor, 'sop:manage', null) ||
    (run.projectId !== null && can(actor, permission, run.projectId))
  );
}

async function signalRunning(deps: Deps, run: RunRow, rows: readonly RunServerRow[]): Promise<string[]> {
  const signalled: string[] = [];
  await Promise.all(
    rows.map(async (row) => {
      if (!row.cancelToken || !deps.targets) return;
      const server = await getServerByName(deps.sql, row.serverName);
      if (!server) return;
      try {
        const target = await deps.targets.forServer(server, deps);
        const argv = cancelCommand(pidFileFor(run.id, row.cancelToken));
        // A script claimed a moment ago may not have written its pid file yet: look a few times.
        for (let attempt = 0; attempt < PID_FILE_ATTEMPTS; attempt++) {
          if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, PID_FILE_RETRY_MS));
          const result = await target.exec(argv, { timeoutMs: SIGNAL_TIMEOUT_MS });
          if (result.exitCode === 0) {
            signalled.push(row.serverName);
            return;
          }
          if (result.exitCode !== 3) return;
        }
      } catch (error) {
        deps.log.warn(
          { err: error, runId: run.id, server: row.serverName },
          'could not signal a cancelled script; its timeout will stop it',
        );
      }
    }),
  );
  return signalled.sort();
}

export async function cancelRun(deps: Deps, actor: Actor, runId: number): Promise<CancelledRun> {
  if (!Number.isSafeInteger(runId) || runId < 1)
    throw new AppError('bad_request', `${runId} is not a run number`);
  const done = await withTx(deps.sql, async (tx) => {
    const run = await lockRun(tx, runId);
    if (!run)
      throw new AppError(
        'not_found',
        `there is no run #${runId}; type \`run status <id>\` with a run number you were given`,
      );
    const version = await getScriptVersionById(tx, run.versionId);
    if (!mayCancel(actor, run, (version?.permission ?? 'sop:manage') as Permission)) {
      throw new AppError(
        'forbidden',
        `only the person who started run #${run.id}, someone who may run ${run.scriptName} on its project, or a holder of sop:manage can cancel it`,
      );
    }
    if (FINISHED_RUN_STATUSES.includes(run.status)) {
      throw new AppError(
        'conflict',
        `run #${run.id} has already ended (${runStatusText(run.status)}); nothing to cancel`,
      );
    }
    const by = trailActor(actor);
    if (run.status === 'awaiting-approval') {
      // Withdrawing the approval ends the run through its hook (run-subject.ts), in this transaction.
      const open = await lockPendingForSubject(tx, SCRIPT_RUN_SUBJECT, String(run.id));
      if (open)
        await finishRequest(tx, deps, open, {
          status: 'cancelled',
          actor: by,
          reason: `run #${run.id} cancelled`,
        });
      else
        await setRunStatus(tx, run.id, {
          from: ['awaiting-approval'],
          to: 'cancelled',
          at: deps.clock.now(),
          cancelledBy: by,
        });
      return { run: (await getRun(tx, run.id))!, notStarted: [] as string[], running: [] as RunServerRow[] };
    }
    const now = deps.clock.now();
    await setRunStatus(tx, run.id, {
      from: ['queued', 'running'],
      to: 'cancelled',
      at: now,
      cancelledBy: by,
      error: `cancelled by ${actor.user.handle}`,
    });
    const notStarted = await closePendingRunServers(tx, run.id, {
      status: 'cancelled',
      error: 'cancelled before it started',
      at: now,
    });
    const servers = await listRunServers(tx, run.id);
    const running = servers.filter((s) => s.status === 'running');
    const ended = (await getRun(tx, run.id))!;
    await recordEvent(
      tx,
      deps,
      {
        actor: by,
        action: 'script-run.cancelled',
        subject: runRef(run.id),
        projectId: run.projectId,
        data: {
          runId: run.id,
          script: run.scriptName,
          notStarted: notStarted.length,
          running: running.map((s) => s.serverName),
          ...actorFacts(actor),
        },
      },
      [
        {
          kind: 'subject-message',
          subject: runRef(run.id),
          projectId: run.projectId,
          reply: runMessage(
            ended,
            { risk: version?.risk ?? 'low' },
            servers,
            run.requestedRef.replace(/^user:/, ''),
          ),
        },
        {
          kind: 'thread-reply',
          subject: runRef(run.id),
          projectId: run.projectId,
          reply: {
            visibility: 'public',
            tone: 'warning',
            text: `■ Cancelled by ${actor.user.handle}: ${notStarted.length} server${notStarted.length === 1 ? '' : 's'} will not run${running.length ? `; stopping ${running.map((s) => s.serverName).join(', ')}` : ''}.`,
          },
        },
      ],
    );
    return { run: ended, notStarted, running };
  });
  deps.kickOutbox?.();
  const signalled = await signalRunning(deps, done.run, done.running);
  const stopping = done.running.length
    ? ` Sent a stop signal to ${signalled.length} of ${done.running.length} running.`
    : '';
  return {
    run: done.run,
    notStarted: done.notStarted,
    signalled,
    reply: {
      visibility: 'private',
      tone: 'success',
      text: `Run #${done.run.id} cancelled: ${done.notStarted.length} server${done.notStarted.length === 1 ? '' : 's'} will not run.${stopping}`,
    },
  };
}

/**
 * Runs left 'running' by a process that died (no heartbeat for `staleAfterMs`) are marked
 * interrupted, with their unfinished servers, so nobody waits for them for ever.
 */
export async function sweepInterruptedRuns(
  deps: Deps,
  options: { staleAfterMs?: number } = {},
): Promise<number[]> {
  const now = deps.clock.now();
  const stale = await listStaleRuns(
    deps.sql,
    new Date(now.getTime() - (options.staleAfterMs ?? 10 * 60_000)),
  );
  for (const id of stale) {
    await withTx(deps.sql, async (tx) => {
      if (
        !(await setRunStatus(tx, id, {
          from: ['running'],
          to: 'interrupted',
          at: now,
          error: 'Warden stopped while the run was going on',
        }))
      )
        return;
      const run = (await getRun(tx, id))!;
      const servers = await closePendingRunServers(tx, id, {
        status: 'error',
        error: 'interrupted',
        at: now,
        includeRunning: true,
      });
      await recordEvent(tx, deps, {
        actor: 'job:script-runs-sweep',
        action: 'script-run.interrupted',
        subject: runRef(id),
        projectId: run.projectId,
        data: { runId: id, script: run.scriptName, unfinished: servers },
      });
    });
  }
  if (stale.length) deps.kickOutbox?.();
  return stale;
}
