import {
  CancelCommandCommand,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  SendCommandCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { ssmError } from './client.js';

/** Runs one SSM document on one instance and waits for its end, cancelling it at the deadline. */

export interface DocumentRun {
  client: SSMClient;
  instanceId: string;
  documentName: 'AWS-RunShellScript' | 'AWS-RunPowerShellScript' | 'AWS-RunPatchBaseline';
  parameters: Record<string, string[]>;
  comment: string;
  timeoutMs: number;
  /** First wait between polls; it grows by half each time up to `maxPollIntervalMs`. */
  pollIntervalMs: number;
  maxPollIntervalMs: number;
}

export type RunStatus = 'Success' | 'Failed' | 'TimedOut' | 'Cancelled' | 'Deadline';

export interface RunOutcome {
  commandId: string;
  status: RunStatus;
  statusDetails: string;
  /** The script's exit status; -1 when it never ran to an end. */
  responseCode: number;
  stdout: string;
  stderr: string;
  /** Whether the agent picked the command up at all (false: still Pending/Delayed at the deadline). */
  started: boolean;
}

const TERMINAL = new Set(['Success', 'Failed', 'TimedOut', 'Cancelled']);
// After a cancel, how long to wait for the agent to confirm, to collect the partial output.
const CANCEL_CONFIRM_MS = 3_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function nameOf(error: unknown): string {
  return typeof error === 'object' && error !== null && 'name' in error ? String(error.name) : '';
}

interface Snapshot {
  status: string;
  statusDetails: string;
  responseCode: number;
  stdout: string;
  stderr: string;
}

/**
 * One look at the invocation. A document with one step answers GetCommandInvocation; a
 * several-step one (AWS-RunPatchBaseline) needs the step named there, so it is read through
 * ListCommandInvocations with details instead. Null while SSM has not registered it yet
 * (InvocationDoesNotExist right after SendCommand is documented behaviour).
 */
async function look(run: DocumentRun, commandId: string): Promise<Snapshot | null> {
  try {
    if (run.documentName !== 'AWS-RunPatchBaseline') {
      const out = await run.client.send(
        new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: run.instanceId }),
      );
      return {
        status: out.Status ?? 'Pending',
        statusDetails: out.StatusDetails ?? '',
        responseCode: out.ResponseCode ?? -1,
        stdout: out.StandardOutputContent ?? '',
        stderr: out.StandardErrorContent ?? '',
      };
    }
    const out = await run.client.send(
      new ListCommandInvocationsCommand({ CommandId: commandId, InstanceId: run.instanceId, Details: true }),
    );
    const invocation = out.CommandInvocations?.[0];
    if (!invocation) return null;
    const plugins = invocation.CommandPlugins ?? [];
    const failed = plugins.find((plugin) => (plugin.ResponseCode ?? 0) !== 0);
    return {
      status: invocation.Status ?? 'Pending',
      statusDetails: invocation.StatusDetails ?? '',
      responseCode: (failed ?? plugins[0])?.ResponseCode ?? -1,
      stdout: plugins.map((plugin) => plugin.Output ?? '').join('\n'),
      stderr: '',
    };
  } catch (error) {
    const name = nameOf(error);
    // Throttling that outlasted the SDK's own retries: the command still runs, so keep waiting.
    if (name === 'InvocationDoesNotExist' || name === 'ThrottlingException') return null;
    throw ssmError(error, `read command ${commandId}`, run.instanceId);
  }
}

export async function sendCommand(run: DocumentRun, executionTimeoutSeconds?: number): Promise<string> {
  try {
    const out = await run.client.send(
      new SendCommandCommand({
        InstanceIds: [run.instanceId],
        DocumentName: run.documentName,
        Comment: run.comment.slice(0, 100),
        Parameters: executionTimeoutSeconds
          ? { ...run.parameters, executionTimeout: [String(executionTimeoutSeconds)] }
          : run.parameters,
        // Delivery timeout (documented minimum 30 s): an offline agent must not pick it up hours later.
        TimeoutSeconds: Math.max(30, Math.ceil(run.timeoutMs / 1000)),
      }),
    );
    const id = out.Command?.CommandId;
    if (!id) throw new Error('SendCommand returned no CommandId');
    return id;
  } catch (error) {
    throw ssmError(error, `send ${run.documentName}`, run.instanceId);
  }
}

/** Sends the document and waits for a terminal status, or cancels it when `timeoutMs` runs out. */
export async function runDocument(run: DocumentRun, executionTimeoutSeconds?: number): Promise<RunOutcome> {
  const deadline = performance.now() + run.timeoutMs;
  const commandId = await sendCommand(run, executionTimeoutSeconds);
  let last: Snapshot | null = null;
  let interval = run.pollIntervalMs;
  for (;;) {
    const seen = await look(run, commandId);
    if (seen) last = seen;
    if (last && TERMINAL.has(last.status)) {
      return { commandId, ...last, status: last.status as RunStatus, started: true };
    }
    const left = deadline - performance.now();
    if (left <= 0) break;
    await sleep(Math.min(interval, left));
    interval = Math.min(interval * 1.5, run.maxPollIntervalMs);
  }
  const started = last !== null && !['Pending', 'Delayed'].includes(last.status);
  try {
    await run.client.send(new CancelCommandCommand({ CommandId: commandId, InstanceIds: [run.instanceId] }));
  } catch (error) {
    // The command may have ended in the meantime; the caller reports the deadline either way.
    if (nameOf(error) !== 'InvalidCommandId')
      throw ssmError(error, `cancel command ${commandId}`, run.instanceId);
  }
  const confirmBy = performance.now() + CANCEL_CONFIRM_MS;
  while (performance.now() < confirmBy) {
    const seen = await look(run, commandId);
    if (seen) last = seen;
    if (last && TERMINAL.has(last.status)) break;
    await sleep(run.pollIntervalMs);
  }
  return {
    commandId,
    status: 'Deadline',
    statusDetails: last?.statusDetails ?? 'Pending',
    responseCode: -1,
    stdout: last?.stdout ?? '',
    stderr: last?.stderr ?? '',
    started,
  };
}
