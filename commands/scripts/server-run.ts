import { isAppError } from '../../lib/errors.js';
import { getServerByName } from '../../storage/inventory.js';
import type { RunRow, RunServerResult, RunServerRow } from '../../storage/script-runs.js';
import type { ScriptVersionRow } from '../../storage/scripts.js';
import type { Deps } from '../deps.js';
import { cleanupCommand, scriptCommand } from './command.js';
import type { ParamSpec } from './params.js';

/**
 * One server of a run: check it still exists and runs an OS the script is for, build its Target,
 * and run the script there (command.ts). A server's failure is a result, never a throw.
 */
const CLEANUP_TIMEOUT_MS = 15_000;

function messageOf(error: unknown): string {
  return (isAppError(error) || error instanceof Error ? error.message : String(error)).slice(0, 500);
}

function isWindows(os: Record<string, string>): boolean {
  return (os.family ?? '').toLowerCase() === 'windows';
}

function failure(status: 'skipped' | 'error', error: string): RunServerResult {
  return {
    status,
    exitCode: null,
    signal: null,
    timedOut: false,
    truncated: false,
    stdout: '',
    stderr: '',
    error,
    durationMs: null,
  };
}

/** One server: build its Target and run the script there. Never throws for the server's failure. */
export async function runOnServer(
  deps: Deps,
  run: RunRow,
  version: ScriptVersionRow,
  row: RunServerRow,
  maxOutputBytes: number,
): Promise<RunServerResult> {
  const server = await getServerByName(deps.sql, row.serverName);
  if (!server || server.id !== row.serverId)
    return failure('error', 'the server is no longer in the inventory');
  const windows = isWindows(server.os);
  if (windows ? !version.os.includes('windows') : !version.os.includes('linux')) {
    return failure(
      'skipped',
      `the script is for ${version.os.join(' and ')}, and this server runs ${windows ? 'windows' : 'linux'}`,
    );
  }
  if (!deps.targets)
    return failure('error', 'this Warden has no way to reach servers configured (no target factory)');
  let command: ReturnType<typeof scriptCommand>;
  try {
    command = scriptCommand({
      language: version.language,
      body: version.body,
      params: version.params as ParamSpec[],
      values: run.params,
      context: { runId: run.id, server: server.name, script: version.scriptName, version: version.version },
      cancelToken: row.cancelToken!,
    });
    const target = await deps.targets.forServer(server, deps);
    const result = await target.exec(command.argv, {
      stdin: command.stdin,
      env: command.env,
      timeoutMs: version.timeoutMs,
      maxOutputBytes,
    });
    const abnormal = result.timedOut || result.signal !== null;
    if (abnormal && command.pidFile) {
      // A killed wrapper cannot remove its pid file; do it now, best effort.
      await target
        .exec(cleanupCommand(command.pidFile), { timeoutMs: CLEANUP_TIMEOUT_MS })
        .catch(() => undefined);
    }
    return {
      status: result.timedOut ? 'timed-out' : result.exitCode === 0 ? 'succeeded' : 'failed',
      exitCode: result.exitCode,
      signal: result.signal,
      timedOut: result.timedOut,
      truncated: result.truncated,
      stdout: result.stdout,
      stderr: result.stderr,
      error: result.timedOut
        ? `stopped after the script's timeout of ${Math.round(version.timeoutMs / 1000)} s`
        : null,
      durationMs: Math.round(result.durationMs),
    };
  } catch (error) {
    return failure('error', messageOf(error));
  }
}
