import type { ClientChannel } from 'ssh2';
import { createOutputCollector } from '../output.js';
import type { ExecResult } from '../types.js';
import type { SshClient } from './connect.js';

export interface ChannelExec {
  command: string;
  timeoutMs: number;
  maxOutputBytes: number;
  stdin?: string;
}

/** The channel could not be opened, so the command never started and may safely be retried. */
export class ChannelOpenError extends Error {
  /** True when the connection itself is gone (not merely this channel refused). */
  readonly connectionGone: boolean;

  constructor(cause: Error) {
    super(`Could not open an SSH channel: ${cause.message}.`, { cause });
    this.name = 'ChannelOpenError';
    this.connectionGone = /not connected|no response from server/i.test(cause.message);
  }
}

// After a timeout the remote command is signalled and the channel closed; if the server never
// confirms, answer anyway after this long rather than hang the caller.
const CLOSE_GRACE_MS = 2_000;
// Time a timed-out command gets to end on TERM before it is sent KILL.
const KILL_AFTER_MS = 500;

/** The parts of an ssh2 channel that `signal()` would use, reached directly (see sendSignal). */
interface ChannelInternals {
  outgoing?: { id?: number; state?: string };
  _client?: { _protocol?: { signal?: (id: number, name: string) => void } };
}

/**
 * Sends an SSH "signal" request; sshd passes it to the command's process group. ssh2's own
 * `channel.signal()` silently does nothing once our side has sent EOF (which is done at once,
 * so that commands reading stdin do not hang), so the request is sent through the protocol
 * object, as `signal()` itself does. ssh2 is pinned, and a test proves the command dies.
 */
function sendSignal(channel: ClientChannel, name: 'TERM' | 'KILL'): void {
  const internals = channel as unknown as ChannelInternals;
  const id = internals.outgoing?.id;
  const protocol = internals._client?._protocol;
  const state = internals.outgoing?.state;
  // After our EOF the channel is 'eof' but still open for requests (RFC 4254 §5.3).
  if (id === undefined || (state !== 'open' && state !== 'eof') || typeof protocol?.signal !== 'function')
    return;
  try {
    protocol.signal(id, name);
  } catch {
    // The connection may already be going away; the channel close below still ends the wait.
  }
}

/**
 * Runs one command string on an open connection, as its own channel. Output past the cap is
 * dropped as it arrives (memory stays bounded); the timeout sends TERM then KILL to the remote
 * process group (OpenSSH honours the "signal" channel request) and closes the channel.
 */
export function execOnConnection(client: SshClient, request: ChannelExec): Promise<ExecResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    try {
      run(resolve, reject);
    } catch (error) {
      // ssh2 throws at once when the connection has already ended.
      reject(new ChannelOpenError(error as Error));
    }
  });

  function run(resolve: (result: ExecResult) => void, reject: (error: unknown) => void): void {
    client.exec(request.command, (error, channel: ClientChannel) => {
      if (error) {
        reject(new ChannelOpenError(error));
        return;
      }
      const stdout = createOutputCollector(request.maxOutputBytes);
      const stderr = createOutputCollector(request.maxOutputBytes);
      let exitCode: number | null = null;
      let signal: string | null = null;
      let timedOut = false;
      let exited = false;
      let settled = false;
      let grace: NodeJS.Timeout | undefined;
      const finish = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(killer);
        clearTimeout(grace);
        if (!exited && !timedOut) {
          // No exit status: the connection dropped under the command, which may or may not have run.
          reject(
            Object.assign(new Error('The SSH connection ended before the command finished.'), {
              code: 'ECONNRESET',
            }),
          );
          return;
        }
        resolve({
          exitCode: timedOut ? null : exitCode,
          signal: timedOut ? (signal ?? 'KILL') : signal,
          stdout: stdout.text(),
          stderr: stderr.text(),
          truncated: stdout.truncated || stderr.truncated,
          timedOut,
          durationMs: performance.now() - started,
        });
      };
      let killer: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => {
        timedOut = true;
        // TERM first: sudo passes it on to the command, while a KILL would only end sudo itself.
        sendSignal(channel, 'TERM');
        killer = setTimeout(() => {
          sendSignal(channel, 'KILL');
          channel.close();
          grace = setTimeout(finish, CLOSE_GRACE_MS);
        }, KILL_AFTER_MS);
      }, request.timeoutMs);
      channel.on('data', (chunk: Buffer) => stdout.push(chunk));
      channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      channel.on('exit', (code: number | null, signalName?: string) => {
        exited = true;
        exitCode = typeof code === 'number' ? code : null;
        signal = typeof signalName === 'string' ? signalName.replace(/^SIG/, '') : null;
      });
      channel.on('close', finish);
      channel.on('error', () => {});
      channel.end(request.stdin ?? '');
    });
  }
}
