import type { Target } from '../../integrations/targets/types.js';
import { isAppError } from '../../lib/errors.js';
import {
  type BaselineStateRow,
  insertBaselineResults,
  insertBaselineRun,
  lockBaselineStates,
  saveBaselineState,
} from '../../storage/baselines.js';
import { saveBaselineState as saveServerBaselineSummary } from '../../storage/compliance.js';
import { withTx } from '../../storage/db.js';
import { getProjectById, type Server } from '../../storage/inventory.js';
import { getAccount } from '../../storage/scans.js';
import { targetFor } from '../access/ports.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { sendDriftAlert } from './alert.js';
import { type CheckExec, evaluateCheck } from './evaluate.js';
import { baselineNamed, baselineSettings } from './settings.js';
import type { Baseline, BaselineCheck, CheckResult } from './types.js';

/**
 * Runs a baseline on one server and records it: every result in the history, the state per check
 * moved on, and for each check that passed before and fails now (a drift) one alert and, if the
 * project wants it, a change request. A check that keeps failing is not alerted again; a check that
 * cannot tell (error) changes nothing, so a flaky command never looks like a drift.
 */
export interface RunBaselineOptions {
  /** Default: the project's baseline (settings.compliance.baseline.name, default-linux). */
  baseline?: Baseline;
  /** Default: a Target from deps.targets (closed afterwards); a given one is left open. */
  target?: Target;
  /** Recorded on the run: 'scan', 'chat', 'api', 'test'. */
  triggeredBy: string;
}

export interface BaselineRunOutcome {
  runId: number;
  serverName: string;
  status: 'succeeded' | 'failed';
  error: string | null;
  results: CheckResult[];
  /** Check ids that drifted in this run (alerted now). */
  drifted: string[];
  /** Check ids that were failing and pass again. */
  restored: string[];
}

function messageOf(error: unknown): string {
  return isAppError(error) || error instanceof Error ? error.message : String(error);
}

/** Whether Warden may use `sudo -n` on the server (its connection, else its account, says so). */
export async function sudoAllowed(deps: Deps, server: Server): Promise<boolean> {
  if (typeof server.connection.sudo === 'boolean') return server.connection.sudo;
  if (server.accountId === null) return false;
  const account = await getAccount(deps.sql, server.accountId);
  return account?.config.sudo === true;
}

/** Runs each check once; checks with the same command share one execution. */
async function runChecks(
  target: Target,
  checks: readonly BaselineCheck[],
  sudo: boolean,
): Promise<CheckResult[]> {
  const memo = new Map<string, Promise<CheckExec>>();
  const results: CheckResult[] = [];
  for (const check of checks) {
    const asRoot = check.root === true && sudo;
    const key = JSON.stringify([check.argv, asRoot, check.timeoutMs ?? null]);
    let pending = memo.get(key);
    if (!pending) {
      pending = target
        .exec(check.argv, { sudo: asRoot, timeoutMs: check.timeoutMs ?? 60_000, maxOutputBytes: 256 * 1024 })
        .catch((error: unknown): CheckExec => ({ error: messageOf(error) }));
      memo.set(key, pending);
    }
    results.push(evaluateCheck(check, await pending));
  }
  return results;
}

interface Transition {
  check: BaselineCheck;
  result: CheckResult;
  next: BaselineStateRow;
  drift: { passedUntil: Date | null } | null;
  restored: boolean;
}

function transition(
  previous: BaselineStateRow | undefined,
  check: BaselineCheck,
  result: CheckResult,
  serverId: number,
  runId: number,
  at: Date,
): Transition {
  const common = {
    serverId,
    checkId: check.id,
    title: check.title,
    level: check.level,
    lastResult: result.status,
    lastEvidence: result.evidence,
    lastCheckedAt: at,
    lastRunId: runId,
  };
  if (result.status === 'error') {
    // Unknown this time: keep the last definite status; a check that never answered is 'unknown'.
    const next: BaselineStateRow = previous
      ? { ...previous, ...common }
      : {
          ...common,
          status: 'unknown',
          since: at,
          lastPassedAt: null,
          driftedAt: null,
          driftAlertedAt: null,
        };
    return { check, result, next, drift: null, restored: false };
  }
  const status = result.status;
  const changed = previous?.status !== status;
  const lastPassedAt = status === 'pass' ? at : (previous?.lastPassedAt ?? null);
  const drifted = previous?.status === 'pass' && status === 'fail';
  const next: BaselineStateRow = {
    ...common,
    status,
    since: changed || !previous ? at : previous.since,
    lastPassedAt,
    driftedAt: drifted ? at : status === 'pass' ? null : (previous?.driftedAt ?? null),
    driftAlertedAt: drifted ? at : status === 'pass' ? null : (previous?.driftAlertedAt ?? null),
  };
  return {
    check,
    result,
    next,
    drift: drifted ? { passedUntil: previous?.lastPassedAt ?? null } : null,
    restored: previous?.status === 'fail' && status === 'pass',
  };
}

/**
 * @example
 * const outcome = await runBaseline(deps, server, { triggeredBy: 'chat' });
 * outcome.results.filter((r) => r.status === 'fail');
 */
export async function runBaseline(
  deps: Deps,
  server: Server,
  options: RunBaselineOptions,
): Promise<BaselineRunOutcome> {
  const project = server.projectId === null ? undefined : await getProjectById(deps.sql, server.projectId);
  const settings = baselineSettings(project);
  const baseline = options.baseline ?? baselineNamed(settings.name);
  const startedAt = deps.clock.now();
  let results: CheckResult[] = [];
  let error: string | null = null;
  let target = options.target;
  try {
    target ??= await targetFor(deps, server);
    results = await runChecks(target, baseline.checks, await sudoAllowed(deps, server));
    // Every check failed to even run: the server was not reached, which is no result at all.
    if (results.length > 0 && results.every((r) => r.status === 'error' && r.exitCode === null)) {
      error = results[0]!.evidence;
      results = [];
    }
  } catch (caught) {
    error = messageOf(caught);
    results = [];
  } finally {
    if (target && !options.target) await target.close().catch(() => {});
  }
  const finishedAt = deps.clock.now();
  const count = (s: CheckResult['status']) => results.filter((r) => r.status === s).length;

  return withTx(deps.sql, async (tx) => {
    const runId = await insertBaselineRun(tx, {
      serverId: server.id,
      projectId: server.projectId,
      baseline: baseline.name,
      triggeredBy: options.triggeredBy,
      startedAt,
      finishedAt,
      status: error ? 'failed' : 'succeeded',
      error,
      passed: count('pass'),
      failed: count('fail'),
      errored: count('error'),
    });
    await insertBaselineResults(tx, runId, server.id, finishedAt, results);
    const previous = new Map((await lockBaselineStates(tx, server.id)).map((s) => [s.checkId, s]));
    const drifted: string[] = [];
    const restored: string[] = [];
    for (const [i, result] of results.entries()) {
      const check = baseline.checks[i]!;
      const t = transition(previous.get(check.id), check, result, server.id, runId, finishedAt);
      await saveBaselineState(tx, t.next);
      if (t.drift) {
        drifted.push(check.id);
        await sendDriftAlert(tx, deps, {
          server,
          check,
          result,
          passedUntil: t.drift.passedUntil,
          driftedAt: finishedAt,
          openTicket: settings.openTickets,
        });
      }
      if (t.restored) restored.push(check.id);
    }
    // The compliance standard "configuration baseline passing" reads this summary row.
    if (!error) {
      const ids = new Set(baseline.checks.map((c) => c.id));
      const states = (await lockBaselineStates(tx, server.id)).filter((s) => ids.has(s.checkId));
      await saveServerBaselineSummary(tx, {
        serverId: server.id,
        at: finishedAt,
        checksTotal: states.length,
        failing: states.filter((s) => s.status === 'fail').map((s) => s.checkId),
      });
    }
    if (restored.length > 0) {
      await recordEvent(tx, deps, {
        actor: 'system',
        action: 'baseline.restored',
        subject: { type: 'server', id: server.name },
        projectId: server.projectId,
        data: { server: server.name, checks: restored, runId },
      });
    }
    if (drifted.length > 0 || restored.length > 0) deps.kickOutbox?.();
    return {
      runId,
      serverName: server.name,
      status: error ? 'failed' : 'succeeded',
      error,
      results,
      drifted,
      restored,
    } satisfies BaselineRunOutcome;
  });
}
