import type { SSMClient } from '@aws-sdk/client-ssm';
import { targetError } from '../errors.js';
import { commandTimeout, outputCap } from '../output.js';
import { commandArgv, quoteArg, quoteArgv } from '../shell-quote.js';
import type { ExecOptions, ExecResult } from '../types.js';
import { runDocument } from './commands.js';
import { powerShellScript } from './powershell.js';

/**
 * exec over SSM: the argv becomes one AWS-RunShellScript (or AWS-RunPowerShellScript) command.
 * The agent writes the commands to a script file and runs it through a shell on the instance, so
 * every element is quoted (shell-quote.ts / powershell.ts); standard input, which SSM has no
 * channel for, is a quoted string piped in. GetCommandInvocation keeps the first 24,000
 * characters of stdout and 8,000 of stderr and marks a cut; a cut is reported as `truncated`.
 */

export const SSM_STDOUT_MARK = '\n---Output truncated---';
export const SSM_STDERR_MARK = '\n---Error truncated----';
/** The most stdout SSM returns inline, once its truncation mark is removed. */
export const SSM_INLINE_STDOUT_CHARS = 24_000 - SSM_STDOUT_MARK.length;

export type SsmPlatform = 'Linux' | 'Windows' | 'MacOS';

export interface SsmExecContext {
  client: SSMClient;
  instanceId: string;
  name: string;
  platform(): Promise<SsmPlatform>;
  defaultTimeoutMs: number;
  defaultMaxOutputBytes: number;
  pollIntervalMs: number;
  maxPollIntervalMs: number;
}

/** The POSIX script for one argv: no `sudo` (the agent runs as root) and no shell parsing of input. */
export function ssmShellScript(
  argv: readonly string[],
  options: Pick<ExecOptions, 'env' | 'stdin'> = {},
): string {
  const command = quoteArgv(commandArgv(argv, { env: options.env }));
  return options.stdin === undefined
    ? `${command} </dev/null`
    : `printf '%s' ${quoteArg(options.stdin)} | ${command}`;
}

function unmark(text: string, mark: string): { text: string; cut: boolean } {
  return text.endsWith(mark) ? { text: text.slice(0, -mark.length), cut: true } : { text, cut: false };
}

/** Keeps at most `cap` bytes, never splitting a character. */
function capBytes(text: string, cap: number): { text: string; cut: boolean } {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= cap) return { text, cut: false };
  let end = cap;
  // Step back over continuation bytes (10xxxxxx) so the cut falls on a character boundary.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return { text: bytes.subarray(0, end).toString('utf8'), cut: true };
}

function output(raw: string, mark: string, cap: number): { text: string; cut: boolean } {
  const inline = unmark(raw, mark);
  const capped = capBytes(inline.text, cap);
  return { text: capped.text, cut: inline.cut || capped.cut };
}

export async function execThroughSsm(
  context: SsmExecContext,
  argv: readonly string[],
  options: ExecOptions = {},
): Promise<ExecResult> {
  const timeoutMs = commandTimeout(options.timeoutMs, context.defaultTimeoutMs);
  const cap = outputCap(options.maxOutputBytes, context.defaultMaxOutputBytes);
  const platform = await context.platform();
  const windows = platform === 'Windows';
  const script = windows
    ? powerShellScript({ argv, env: options.env, stdin: options.stdin })
    : ssmShellScript(argv, options);
  const started = performance.now();
  // The agent's own timeout backs up the CancelCommand sent at the deadline (documented range 1…172800 s).
  const agentTimeout = Math.min(172_800, Math.max(1, Math.ceil(timeoutMs / 1000)));
  const outcome = await runDocument(
    {
      client: context.client,
      instanceId: context.instanceId,
      documentName: windows ? 'AWS-RunPowerShellScript' : 'AWS-RunShellScript',
      parameters: { commands: [script] },
      comment: `warden exec ${argv[0] ?? ''}`,
      timeoutMs,
      pollIntervalMs: context.pollIntervalMs,
      maxPollIntervalMs: context.maxPollIntervalMs,
    },
    agentTimeout,
  );
  const details = outcome.statusDetails;
  if (
    !outcome.started ||
    ['Undeliverable', 'Terminated', 'DeliveryTimedOut', 'InvalidPlatform'].includes(details)
  ) {
    throw targetError(
      'aws-ssm',
      'unreachable',
      `${context.name}: the SSM Agent did not take the command (${details || 'no answer'}). Check that the instance is running and its agent is Online in Fleet Manager.`,
      { details: { commandId: outcome.commandId, statusDetails: details } },
    );
  }
  const stdout = output(outcome.stdout, SSM_STDOUT_MARK, cap);
  const stderr = output(outcome.stderr, SSM_STDERR_MARK, cap);
  const timedOut = outcome.status === 'Deadline' || outcome.status === 'TimedOut';
  if (outcome.status === 'Cancelled') {
    throw targetError(
      'aws-ssm',
      'command-failed',
      `${context.name}: the command was cancelled outside Warden.`,
      {
        details: { commandId: outcome.commandId },
      },
    );
  }
  return {
    exitCode: timedOut ? null : outcome.responseCode,
    signal: timedOut ? 'KILL' : null,
    stdout: stdout.text,
    stderr: stderr.text,
    truncated: stdout.cut || stderr.cut,
    timedOut,
    durationMs: performance.now() - started,
  };
}
