import { spawn } from 'node:child_process';
import { createOutputCollector } from '../output.js';
import { commandArgv } from '../shell-quote.js';
import type { ExecResult } from '../types.js';

export interface LocalExecRequest {
  argv: readonly string[];
  timeoutMs: number;
  maxOutputBytes: number;
  sudo: boolean;
  env?: Record<string, string>;
  stdin?: string;
}

// After a kill, how long to wait for the pipes to close before answering anyway: a grandchild
// that left the process group could otherwise hold them open for ever.
const CLOSE_GRACE_MS = 2_000;

/**
 * Runs an argv on this machine with no shell in between. The child leads its own process group,
 * so a timeout kills everything it started, not just the first process.
 */
export function execLocal(request: LocalExecRequest): Promise<ExecResult> {
  const argv = commandArgv(request.argv, { sudo: request.sudo, env: request.env });
  const started = performance.now();
  const stdout = createOutputCollector(request.maxOutputBytes);
  const stderr = createOutputCollector(request.maxOutputBytes);
  return new Promise((resolve) => {
    let timedOut = false;
    let settled = false;
    let spawnError: NodeJS.ErrnoException | undefined;
    const child = spawn(argv[0]!, argv.slice(1), {
      shell: false,
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
    });
    const finish = (exitCode: number | null, signal: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(graceTimer);
      if (spawnError) {
        // Same answer as a shell gives, so callers treat local and ssh alike.
        const missing = spawnError.code === 'ENOENT';
        resolve({
          exitCode: missing ? 127 : 126,
          signal: null,
          stdout: '',
          stderr: `${argv[0]}: ${missing ? 'command not found' : spawnError.message}\n`,
          truncated: false,
          timedOut: false,
          durationMs: performance.now() - started,
        });
        return;
      }
      resolve({
        exitCode: timedOut ? null : exitCode,
        signal: signal === null ? null : signal.replace(/^SIG/, ''),
        stdout: stdout.text(),
        stderr: stderr.text(),
        truncated: stdout.truncated || stderr.truncated,
        timedOut,
        durationMs: performance.now() - started,
      });
    };
    let graceTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
      graceTimer = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish(null, 'SIGKILL');
      }, CLOSE_GRACE_MS);
    }, request.timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      spawnError = error;
      finish(null, null);
    });
    child.on('close', (code, signal) => finish(code, signal));
    // A command that does not read its input must not fail the call with EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(request.stdin ?? '');
  });
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}
