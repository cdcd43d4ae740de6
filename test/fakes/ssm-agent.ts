import { randomUUID } from 'node:crypto';
import { type RunningShell, runScriptWithSh } from './cloud-shell.js';

/**
 * The instance side of the fake SSM: what each managed node does with the documents it is sent.
 * Behaviour is scripted per instance (`onShell`, `onPatchBaseline`), or `onShell('sh')` runs the
 * received AWS-RunShellScript commands with /bin/sh on this machine.
 */

/** One entry of DescribeInstancePatches, as the wire carries it (InstalledTime in epoch seconds). */
export interface SsmPatch {
  Title: string;
  KBId: string;
  Classification: string;
  Severity: string;
  State: string;
  InstalledTime: number;
  CVEIds?: string;
}

export interface SsmInstanceInfo {
  PingStatus: 'Online' | 'ConnectionLost' | 'Inactive';
  PlatformType: 'Linux' | 'Windows' | 'MacOS';
  PlatformName: string;
  PlatformVersion: string;
  ComputerName: string;
  IPAddress: string;
  ResourceType: 'EC2Instance' | 'ManagedInstance';
  AgentVersion: string;
  Name?: string;
}

export interface ShellOutcome {
  stdout?: string;
  stderr?: string;
  exitCode?: number;
  /** Never finishes by itself: stays InProgress until cancelled or timed out. */
  hang?: boolean;
}

export type ShellBehaviour = 'sh' | ((script: string) => ShellOutcome);

export interface PatchBaselineRun {
  operation: string;
  rebootOption?: string;
  installOverrideList?: string;
}

export type PatchBaselineBehaviour = (run: PatchBaselineRun) => ShellOutcome;

export interface FakeSsmInstance {
  readonly id: string;
  info: SsmInstanceInfo;
  /** What DescribeInstancePatches answers (the state the last scan left). */
  patches: SsmPatch[];
  /** Commands received through AWS-RunShellScript / AWS-RunPowerShellScript, joined as the agent writes them. */
  readonly scripts: string[];
  readonly patchRuns: PatchBaselineRun[];
  onShell(behaviour: ShellBehaviour): FakeSsmInstance;
  onPatchBaseline(behaviour: PatchBaselineBehaviour): FakeSsmInstance;
}

export type InvocationStatus = 'Pending' | 'InProgress' | 'Success' | 'Failed' | 'TimedOut' | 'Cancelled';

export interface Invocation {
  commandId: string;
  instanceId: string;
  documentName: string;
  pluginName: string;
  status: InvocationStatus;
  statusDetails: string;
  responseCode: number;
  stdout: string;
  stderr: string;
  requestedAt: number;
  startedAt: number;
  endedAt: number | null;
  cancel(): void;
}

// GetCommandInvocation keeps the first 24,000 characters of stdout and 8,000 of stderr; the agent
// marks the cut with these lines (seen in real output: "---Output truncated---").
export const SSM_STDOUT_LIMIT = 24_000;
export const SSM_STDERR_LIMIT = 8_000;
export const SSM_STDOUT_MARK = '\n---Output truncated---';
export const SSM_STDERR_MARK = '\n---Error truncated----';

function clip(text: string, limit: number, mark: string): string {
  return text.length <= limit ? text : text.slice(0, limit - mark.length) + mark;
}

export function createInstance(
  id: string,
  info: Partial<SsmInstanceInfo>,
): FakeSsmInstance & {
  shell?: ShellBehaviour;
  patchBaseline?: PatchBaselineBehaviour;
} {
  const instance: FakeSsmInstance & { shell?: ShellBehaviour; patchBaseline?: PatchBaselineBehaviour } = {
    id,
    info: {
      PingStatus: 'Online',
      PlatformType: 'Linux',
      PlatformName: 'Ubuntu',
      PlatformVersion: '22.04',
      ComputerName: `ip-10-0-0-1.${id}`,
      IPAddress: '10.0.0.1',
      ResourceType: 'EC2Instance',
      AgentVersion: '3.3.0.0',
      ...info,
    },
    patches: [],
    scripts: [],
    patchRuns: [],
    onShell(behaviour) {
      instance.shell = behaviour;
      return instance;
    },
    onPatchBaseline(behaviour) {
      instance.patchBaseline = behaviour;
      return instance;
    },
  };
  return instance;
}

export interface StartRun {
  instance: ReturnType<typeof createInstance>;
  documentName: string;
  parameters: Record<string, string[]>;
  executionTimeoutSeconds: number;
  /** Called when the instance has no behaviour for what it was sent (a test mistake). */
  onMissingBehaviour(message: string): void;
}

const PLUGIN: Record<string, string> = {
  'AWS-RunShellScript': 'aws:runShellScript',
  'AWS-RunPowerShellScript': 'aws:runPowerShellScript',
};

/** Starts the document on the instance and returns the invocation, which updates as it runs. */
export function startInvocation(commandId: string, run: StartRun): Invocation {
  const now = Date.now() / 1000;
  const patchPlugin = run.instance.info.PlatformType === 'Windows' ? 'PatchWindows' : 'PatchLinux';
  const invocation: Invocation = {
    commandId,
    instanceId: run.instance.id,
    documentName: run.documentName,
    pluginName: PLUGIN[run.documentName] ?? patchPlugin,
    status: 'InProgress',
    statusDetails: 'InProgress',
    responseCode: -1,
    stdout: '',
    stderr: '',
    requestedAt: now,
    startedAt: now,
    endedAt: null,
    cancel: () => {},
  };
  const finish = (
    status: InvocationStatus,
    code: number,
    stdout: string,
    stderr: string,
    details?: string,
  ) => {
    if (invocation.endedAt !== null) return;
    invocation.status = status;
    invocation.statusDetails = details ?? status;
    invocation.responseCode = code;
    invocation.stdout = clip(stdout, SSM_STDOUT_LIMIT, SSM_STDOUT_MARK);
    invocation.stderr = clip(stderr, SSM_STDERR_LIMIT, SSM_STDERR_MARK);
    invocation.endedAt = Date.now() / 1000;
  };
  const outcome = behaviourFor(run);
  if (outcome === 'sh') {
    const running: RunningShell = runScriptWithSh((run.parameters.commands ?? []).join('\n'), {
      timeoutMs: run.executionTimeoutSeconds * 1000,
    });
    let cancelled = false;
    invocation.cancel = () => {
      cancelled = true;
      running.kill();
    };
    void running.done.then((result) => {
      const out = result.stdout.toString('utf8');
      const err = result.stderr.toString('utf8');
      if (cancelled) finish('Cancelled', -1, out, err);
      else if (result.killed) finish('TimedOut', -1, out, err, 'ExecutionTimedOut');
      else finish(result.exitCode === 0 ? 'Success' : 'Failed', result.exitCode ?? -1, out, err);
    });
    return invocation;
  }
  invocation.cancel = () => finish('Cancelled', -1, '', '');
  if (!outcome.hang) {
    // Answer on the next turn, so a client sees InProgress at least once, as it would for real.
    setImmediate(() => {
      const code = outcome.exitCode ?? 0;
      finish(code === 0 ? 'Success' : 'Failed', code, outcome.stdout ?? '', outcome.stderr ?? '');
    });
  }
  return invocation;
}

function behaviourFor(run: StartRun): 'sh' | ShellOutcome {
  const { instance, documentName, parameters } = run;
  if (documentName === 'AWS-RunPatchBaseline') {
    const patchRun: PatchBaselineRun = {
      operation: parameters.Operation?.[0] ?? 'Scan',
      rebootOption: parameters.RebootOption?.[0],
      installOverrideList: parameters.InstallOverrideList?.[0],
    };
    instance.patchRuns.push(patchRun);
    return instance.patchBaseline?.(patchRun) ?? { stdout: `${patchRun.operation} finished` };
  }
  const script = (parameters.commands ?? []).join('\n');
  instance.scripts.push(script);
  const wantsPowerShell = documentName === 'AWS-RunPowerShellScript';
  if (wantsPowerShell !== (instance.info.PlatformType === 'Windows')) {
    // The agent refuses a document written for the other platform.
    return { exitCode: 1, stderr: `${documentName} is not supported on ${instance.info.PlatformType}` };
  }
  if (!instance.shell) {
    run.onMissingBehaviour(`instance ${instance.id} has no onShell behaviour for: ${script.slice(0, 200)}`);
    return { exitCode: 1, stderr: 'no behaviour scripted' };
  }
  if (instance.shell === 'sh') {
    if (wantsPowerShell) {
      run.onMissingBehaviour('onShell("sh") cannot run PowerShell; script a behaviour instead');
      return { exitCode: 1 };
    }
    return 'sh';
  }
  return instance.shell(script);
}

export function newCommandId(): string {
  return randomUUID();
}
