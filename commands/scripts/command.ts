import type { ScriptLanguage } from '../../storage/scripts.js';
import { type ParamSpec, type ParamValues, paramArgv, paramEnv } from './params.js';

/**
 * The exact argv a script runs as. The script's text goes to the interpreter on standard input
 * (`bash -s --`, `sh -s --`, `pwsh -Command -`); parameter values travel only as environment
 * variables and as the arguments after `--`. Nothing a caller typed is ever part of a string that
 * a shell parses, so `$(…)`, backticks, quotes and `;` in a value stay plain text.
 *
 * POSIX scripts run under a small fixed wrapper that writes its process id to a file named by the
 * run (random, per server) and removes it at the end: `run cancel` reads that file on the server
 * and signals the script's process group. The wrapper's text is a constant; the pid file path and
 * the interpreter arguments are its positional parameters.
 *
 * Scripts must not read their standard input: it carries the script itself.
 */
const POSIX_WRAPPER =
  'f=$1; shift; (umask 077; printf "%s\\n" "$$" > "$f") 2>/dev/null; "$@"; rc=$?; rm -f "$f"; exit $rc';

/** Reads the pid file and sends TERM to the script's process group (or just the process); exit 3 when there is none. */
const POSIX_CANCEL = [
  'f=$1',
  // 3: no pid file (yet): the script has not started, or has just ended
  '[ -f "$f" ] || exit 3',
  'p=$(cat "$f"); case $p in ""|*[!0-9]*) exit 0;; esac',
  'g=$(ps -o pgid= -p "$p" 2>/dev/null | tr -d " "); case $g in ""|*[!0-9]*) g=0;; esac',
  // `kill -TERM -<pgid>`: dash's kill refuses `--` before a negative pid, so none is written.
  'if [ "$g" -gt 1 ]; then kill -TERM "-$g" 2>/dev/null || kill -TERM "$p" 2>/dev/null; else kill -TERM "$p" 2>/dev/null; fi',
  'rm -f "$f"',
  'exit 0',
].join('\n');

export interface ScriptCommand {
  argv: string[];
  env: Record<string, string>;
  stdin: string;
  /** Where the wrapper keeps the pid (POSIX only); null when a running script cannot be signalled. */
  pidFile: string | null;
}

export interface ScriptCommandInput {
  language: ScriptLanguage;
  body: string;
  params: readonly ParamSpec[];
  values: ParamValues;
  /** Facts every script may read: WARDEN_RUN_ID, WARDEN_SERVER_NAME, WARDEN_SCRIPT, WARDEN_SCRIPT_VERSION. */
  context: { runId: number; server: string; script: string; version: number };
  /** Random, per server of a run: makes the pid file name unguessable. */
  cancelToken: string;
}

export function pidFileFor(runId: number, cancelToken: string): string {
  if (!/^[0-9a-f]{8,64}$/.test(cancelToken)) throw new Error('a cancel token is lowercase hex');
  return `/tmp/warden-run-${runId}-${cancelToken}.pid`;
}

export function scriptCommand(input: ScriptCommandInput): ScriptCommand {
  const env = {
    ...paramEnv(input.params, input.values),
    WARDEN_RUN_ID: String(input.context.runId),
    WARDEN_SERVER_NAME: input.context.server,
    WARDEN_SCRIPT: input.context.script,
    WARDEN_SCRIPT_VERSION: String(input.context.version),
  };
  if (input.language === 'powershell') {
    // `-Command -` reads the script from standard input and takes no arguments: environment only.
    return {
      argv: ['pwsh', '-NoProfile', '-NonInteractive', '-Command', '-'],
      env,
      stdin: input.body,
      pidFile: null,
    };
  }
  const pidFile = pidFileFor(input.context.runId, input.cancelToken);
  return {
    argv: [
      'sh',
      '-c',
      POSIX_WRAPPER,
      'warden-run',
      pidFile,
      input.language,
      '-s',
      '--',
      ...paramArgv(input.params, input.values),
    ],
    env,
    stdin: input.body,
    pidFile,
  };
}

/** The argv that signals a running script through its pid file. */
export function cancelCommand(pidFile: string): string[] {
  return ['sh', '-c', POSIX_CANCEL, 'warden-cancel', pidFile];
}

/** The argv that removes a pid file left by a script that was killed (timeout). */
export function cleanupCommand(pidFile: string): string[] {
  return ['rm', '-f', '--', pidFile];
}
