import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * What the fake SSM agent and the fake Azure Run Command handler do with a shell script when a
 * test asks for the real thing: write it to a file and run `/bin/sh file`, as both agents do on a
 * Linux machine. The fakes run on this machine, so a contract test proves that the quoting of an
 * argv survives a real shell, not merely a string comparison.
 */

export interface ShellRun {
  stdout: Buffer;
  stderr: Buffer;
  /** null when the script was killed. */
  exitCode: number | null;
  killed: boolean;
}

export interface RunningShell {
  readonly done: Promise<ShellRun>;
  /** Kills the script's whole process group (what a cancel or an agent timeout does). */
  kill(): void;
}

export interface ShellRunOptions {
  /** The agent's own execution timeout; the group is killed after it. */
  timeoutMs: number;
  /** Output kept per stream; the rest is read and dropped so the script never blocks. */
  maxBytes?: number;
}

function collector(maxBytes: number): { push(chunk: Buffer): void; take(): Buffer } {
  const chunks: Buffer[] = [];
  let size = 0;
  return {
    push(chunk) {
      if (size >= maxBytes) return;
      const part = chunk.subarray(0, maxBytes - size);
      chunks.push(Buffer.from(part));
      size += part.length;
    },
    take: () => Buffer.concat(chunks, size),
  };
}

export function runScriptWithSh(script: string, options: ShellRunOptions): RunningShell {
  const dir = mkdtempSync(path.join(tmpdir(), 'fake-agent-'));
  const file = path.join(dir, '_script.sh');
  writeFileSync(file, script, { mode: 0o700 });
  const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  const out = collector(maxBytes);
  const err = collector(maxBytes);
  // Its own process group, so a kill reaches everything the script started.
  const child = spawn('/bin/sh', [file], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let killed = false;
  const kill = (): void => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    killed = true;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  const timer = setTimeout(kill, options.timeoutMs);
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
  const done = new Promise<ShellRun>((resolve) => {
    child.on('error', (error) => {
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      resolve({ stdout: Buffer.alloc(0), stderr: Buffer.from(String(error)), exitCode: 127, killed: false });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      resolve({ stdout: out.take(), stderr: err.take(), exitCode: killed ? null : code, killed });
    });
  });
  return { done, kill };
}
