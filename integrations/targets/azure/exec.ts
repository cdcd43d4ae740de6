import type { ComputeManagementClient } from '@azure/arm-compute';
import { targetError } from '../errors.js';
import { commandTimeout, outputCap } from '../output.js';
import type { ExecOptions, ExecResult } from '../types.js';
import { azureError, type VmRef } from './client.js';
import { linuxRunnerScript, parseRunnerOutput, parseWindowsExit, windowsRunnerScript } from './runner.js';

/** exec through Run Command (the action form): one script at a time per VM, output framed by runner.ts. */

export interface AzureExecContext {
  client: ComputeManagementClient;
  vm: VmRef;
  name: string;
  osType(): Promise<'Linux' | 'Windows'>;
  defaultTimeoutMs: number;
  defaultMaxOutputBytes: number;
  /** LRO poll interval. */
  pollIntervalMs: number;
  /** Run Command's own latency on top of the script's run time before Warden gives up waiting. */
  overheadMs: number;
  /** Runs one Run Command at a time for this VM (the agent refuses a second with 409). */
  serialize<T>(work: () => Promise<T>): Promise<T>;
}

// The whole message Run Command keeps per stream.
const INLINE_BYTES = 4096;

function statusOf(error: unknown): number {
  return typeof error === 'object' && error !== null
    ? Number((error as { statusCode?: unknown }).statusCode ?? 0)
    : 0;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function keep(text: string, cap: number): { text: string; cut: boolean } {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= cap) return { text, cut: false };
  let end = cap;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return { text: bytes.subarray(0, end).toString('utf8'), cut: true };
}

export async function execThroughRunCommand(
  context: AzureExecContext,
  argv: readonly string[],
  options: ExecOptions = {},
): Promise<ExecResult> {
  const timeoutMs = commandTimeout(options.timeoutMs, context.defaultTimeoutMs);
  const cap = outputCap(options.maxOutputBytes, context.defaultMaxOutputBytes);
  const windows = (await context.osType()) === 'Windows';
  const script = windows
    ? windowsRunnerScript(argv, options)
    : linuxRunnerScript(argv, {
        env: options.env,
        stdin: options.stdin,
        timeoutSeconds: timeoutMs / 1000,
        maxOutputBytes: cap,
      });
  return context.serialize(async () => {
    const started = performance.now();
    const deadline = started + timeoutMs + context.overheadMs;
    let statuses: { code?: string; message?: string }[] | undefined;
    for (;;) {
      try {
        const result = await context.client.virtualMachines.runCommand(
          context.vm.resourceGroup,
          context.vm.vmName,
          { commandId: windows ? 'RunPowerShellScript' : 'RunShellScript', script },
          {
            updateIntervalInMs: context.pollIntervalMs,
            abortSignal: AbortSignal.timeout(Math.max(1, Math.ceil(deadline - performance.now()))),
          },
        );
        statuses = result.value ?? [];
        break;
      } catch (error) {
        // Another Run Command holds the VM (another Warden process, or a person): wait for it.
        if (statusOf(error) === 409 && performance.now() + context.pollIntervalMs < deadline) {
          await sleep(context.pollIntervalMs);
          continue;
        }
        if ((error as { name?: string }).name === 'AbortError') {
          throw targetError(
            'azure',
            'timeout',
            `${context.name}: Azure did not return the Run Command result within ${Math.round((timeoutMs + context.overheadMs) / 1000)} s. Run Command cannot be cancelled; the script stops itself after ${Math.ceil(timeoutMs / 1000)} s.`,
          );
        }
        throw azureError(error, 'run a command', context.name);
      }
    }
    const durationMs = performance.now() - started;
    if (windows) {
      const out = statuses.find((s) => s.code?.includes('StdOut'))?.message ?? '';
      const err = statuses.find((s) => s.code?.includes('StdErr'))?.message ?? '';
      const { stdout, exitCode } = parseWindowsExit(out);
      const keptOut = keep(stdout, cap);
      const keptErr = keep(err, cap);
      return {
        exitCode,
        signal: null,
        stdout: keptOut.text,
        stderr: keptErr.text,
        truncated:
          keptOut.cut ||
          keptErr.cut ||
          Buffer.byteLength(out) >= INLINE_BYTES ||
          Buffer.byteLength(err) >= INLINE_BYTES,
        timedOut: false,
        durationMs,
      };
    }
    const message = statuses.map((s) => s.message ?? '').join('\n');
    const parsed = parseRunnerOutput(message);
    if (!parsed) {
      throw targetError(
        'azure',
        'command-failed',
        `${context.name}: the Run Command script did not report back (does the VM have coreutils' timeout and base64?): ${message.slice(-500)}`,
      );
    }
    return {
      exitCode: parsed.timedOut ? null : parsed.exitCode,
      signal: parsed.timedOut ? 'KILL' : null,
      stdout: parsed.stdout,
      stderr: parsed.stderr,
      truncated: parsed.truncated,
      timedOut: parsed.timedOut,
      durationMs,
    };
  });
}
