import {
  DescribeInstancePatchesCommand,
  type DescribeInstancePatchesCommandOutput,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { stringify } from 'yaml';
import { AppError } from '../../../lib/errors.js';
import { isPackageLockMessage, targetError } from '../errors.js';
import type { ExecResult, InstallItem, InstallResult, TargetErrorKind } from '../types.js';
import { ssmError } from './client.js';
import { type RunOutcome, runDocument } from './commands.js';
import { type SsmPatchData, ssmPatchState } from './patches.js';

/** Scan and install through AWS-RunPatchBaseline, and reading DescribeInstancePatches back. */

export interface PatchRunContext {
  client: SSMClient;
  instanceId: string;
  name: string;
  pollIntervalMs: number;
  maxPollIntervalMs: number;
}

/** Runs AWS-RunPatchBaseline and turns anything but Success into a classified error. */
export async function runPatchBaseline(
  context: PatchRunContext,
  parameters: Record<string, string[]>,
  timeoutMs: number,
): Promise<RunOutcome> {
  const operation = parameters.Operation?.[0] ?? 'Scan';
  const outcome = await runDocument({
    ...context,
    documentName: 'AWS-RunPatchBaseline',
    parameters,
    comment: `warden ${operation.toLowerCase()}`,
    timeoutMs,
  });
  return outcome;
}

export function patchRunError(context: PatchRunContext, outcome: RunOutcome, operation: string): AppError {
  const tail = outcome.stdout.trim().slice(-1500);
  if (!outcome.started) {
    return targetError(
      'aws-ssm',
      'unreachable',
      `${context.name}: the SSM Agent did not pick up the patch ${operation.toLowerCase()}. Check that the instance is running and Online in Fleet Manager.`,
      { details: { commandId: outcome.commandId } },
    );
  }
  if (outcome.status === 'Deadline' || outcome.status === 'TimedOut') {
    return targetError(
      'aws-ssm',
      'timeout',
      `${context.name}: the patch ${operation.toLowerCase()} did not finish in time and was cancelled.`,
      {
        details: { commandId: outcome.commandId },
      },
    );
  }
  const kind: TargetErrorKind = isPackageLockMessage(tail) ? 'package-lock' : 'command-failed';
  return targetError(
    'aws-ssm',
    kind,
    `${context.name}: AWS-RunPatchBaseline ${operation} ended ${outcome.status} (${outcome.statusDetails}, exit ${outcome.responseCode}). ${tail ? `It said: ${tail}` : 'See the command in the SSM console.'}`,
    { details: { commandId: outcome.commandId } },
  );
}

// The states that matter to Warden: still to install, failed to install, installed but waiting for a reboot.
const PENDING_STATES = ['Missing', 'Failed', 'InstalledPendingReboot'];

/** Every patch in a pending state on the instance, following NextToken (100 a page, the documented maximum). */
export async function pendingPatches(context: PatchRunContext): Promise<SsmPatchData[]> {
  const patches: SsmPatchData[] = [];
  let token: string | undefined;
  do {
    let page: DescribeInstancePatchesCommandOutput;
    try {
      page = await context.client.send(
        new DescribeInstancePatchesCommand({
          InstanceId: context.instanceId,
          Filters: [{ Key: 'State', Values: PENDING_STATES }],
          MaxResults: 100,
          NextToken: token,
        }),
      );
    } catch (error) {
      throw ssmError(error, 'read the instance patches', context.instanceId);
    }
    patches.push(...(page.Patches ?? []));
    token = page.NextToken && page.NextToken !== token ? page.NextToken : undefined;
  } while (token);
  return patches;
}

export function isMissing(patch: SsmPatchData): boolean {
  const state = ssmPatchState(patch.State);
  return state === 'MISSING' || state === 'FAILED';
}

export function isPendingReboot(patch: SsmPatchData): boolean {
  return ssmPatchState(patch.State) === 'INSTALLEDPENDINGREBOOT';
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._+~^-]*$/;
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._+:~^-]*$/;

/**
 * The InstallOverrideList YAML: `patches:` with `id` (the KBId form: `name.arch`, or `KB…` on
 * Windows) and `title` (`name.arch:epoch:version`, the form DescribeInstancePatches titles use),
 * which narrows the patch to the approved version.
 */
export function installOverrideYaml(items: readonly InstallItem[]): string {
  const patches = items.map((item) => {
    if (!NAME.test(item.package) || !VERSION.test(item.version) || (item.arch && !NAME.test(item.arch))) {
      throw new AppError(
        'bad_request',
        `"${item.package}" ${item.version} is not a package name and version Warden can send to Patch Manager.`,
      );
    }
    if (/^KB\d+$/i.test(item.package)) return { id: item.package.toUpperCase() };
    const id = item.arch ? `${item.package}.${item.arch}` : item.package;
    const [epoch, version] = item.version.includes(':') ? item.version.split(/:(.*)/s) : ['0', item.version];
    return { id, title: `${id}:${epoch}:${version}` };
  });
  return stringify({ patches });
}

/** One outcome for every item: Patch Manager runs a single install for the whole list. */
export function installResultFrom(
  items: readonly InstallItem[],
  outcome: RunOutcome,
  durationMs: number,
): InstallResult {
  const exec: ExecResult = {
    exitCode: outcome.status === 'Deadline' ? null : outcome.responseCode,
    signal: null,
    stdout: outcome.stdout,
    stderr: outcome.stderr,
    truncated: false,
    timedOut: outcome.status === 'Deadline' || outcome.status === 'TimedOut',
    durationMs,
  };
  if (outcome.status === 'Success') {
    return {
      items: items.map((item) => ({ package: item.package, version: item.version, status: 'installed' })),
      exec,
    };
  }
  const detail = `${outcome.stdout}`.trim().slice(-2000) || `${outcome.status} (${outcome.statusDetails})`;
  const failure: TargetErrorKind = exec.timedOut
    ? 'timeout'
    : isPackageLockMessage(detail)
      ? 'package-lock'
      : 'command-failed';
  return {
    items: items.map((item) => ({ package: item.package, version: item.version, status: 'failed', detail })),
    exec,
    failure,
  };
}
