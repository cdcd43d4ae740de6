import {
  DescribeInstanceInformationCommand,
  type InstanceInformation,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { type Clock, systemClock } from '../../../lib/clock.js';
import { AppError } from '../../../lib/errors.js';
import { editAuthorizedKeys } from '../authorized-keys.js';
import { installWithExec } from '../install.js';
import { DEFAULT_COMMAND_TIMEOUT_MS, outputCap } from '../output.js';
import type { ExecOptions, InstallItem, InstallOptions, ScanResult, Target } from '../types.js';
import { createSsmClient, type SsmAccountConfig, ssmError } from './client.js';
import { execThroughSsm, type SsmPlatform } from './exec.js';
import { osFromPlatform, ssmPatchToFinding } from './patches.js';
import {
  installOverrideYaml,
  installResultFrom,
  isMissing,
  isPendingReboot,
  patchRunError,
  pendingPatches,
  runPatchBaseline,
} from './patching.js';

export type { SsmAccountConfig } from './client.js';
export { createSsmClient, ssmError } from './client.js';
export { type DiscoveredServer, discoverSsmInstances, ssmInstanceToServer } from './discovery.js';
export { SSM_INLINE_STDOUT_CHARS, ssmShellScript } from './exec.js';
export {
  osFromPlatform,
  parseCveIds,
  ssmClassification,
  ssmPatchToFinding,
  ssmSeverity,
} from './patches.js';
export { installOverrideYaml } from './patching.js';
export { powerShellScript, quotePowerShell } from './powershell.js';

export interface SsmTargetConfig extends SsmAccountConfig {
  /** i-… (EC2) or mi-… (hybrid managed node). */
  instanceId: string;
  /** Shown in logs and chat (default `ssm:<instanceId>`). */
  name?: string;
  /** From discovery; looked up with DescribeInstanceInformation when omitted. */
  platform?: SsmPlatform;
  commandTimeoutMs?: number;
  maxOutputBytes?: number;
  /** First wait between GetCommandInvocation polls (default 1 s; it grows to `maxPollIntervalMs`, default 5 s). */
  pollIntervalMs?: number;
  maxPollIntervalMs?: number;
  /** Bound on a patch scan or install (default 30 min). */
  patchTimeoutMs?: number;
}

export interface SsmTargetDeps {
  /** Shared by every target of the account; one is made (and closed) per target otherwise. */
  client?: SSMClient;
  clock?: Clock;
  /**
   * Publishes an InstallOverrideList YAML where the instance can read it (an S3 object or https
   * URL) and returns that URL. Without it, installs run the package manager through
   * AWS-RunShellScript instead (Linux only).
   */
  publishInstallList?: (yaml: string, name: string) => Promise<string>;
}

// The documented pattern for a managed node id.
const INSTANCE_ID = /(^i-(\w{8}|\w{17})$)|(^mi-\w{17}$)/;
const PATCH_TIMEOUT_MS = 30 * 60 * 1000;

/**
 * An EC2 instance or hybrid node reached through AWS Systems Manager, as a Target: exec through
 * AWS-RunShellScript / AWS-RunPowerShellScript, scan and install through AWS-RunPatchBaseline.
 *
 * @example
 * const target = createSsmTarget({
 *   region: 'eu-west-1',
 *   roleArn: 'arn:aws:iam::123456789012:role/WardenPatching',
 *   instanceId: 'i-0abc1234def567890',
 * });
 * const { findings } = await target.scan();
 */
export function createSsmTarget(config: SsmTargetConfig, deps: SsmTargetDeps = {}): Target {
  if (!INSTANCE_ID.test(config.instanceId ?? '')) {
    throw new AppError('bad_request', `"${config.instanceId}" is not an SSM managed node id (i-… or mi-…).`);
  }
  const client = deps.client ?? createSsmClient(config);
  const clock = deps.clock ?? systemClock;
  const name = config.name ?? `ssm:${config.instanceId}`;
  const context = {
    client,
    instanceId: config.instanceId,
    name,
    pollIntervalMs: config.pollIntervalMs ?? 1000,
    maxPollIntervalMs: config.maxPollIntervalMs ?? 5000,
  };
  let info: Promise<InstanceInformation> | undefined;

  function instanceInfo(): Promise<InstanceInformation> {
    info ??= (async () => {
      try {
        const out = await client.send(
          new DescribeInstanceInformationCommand({
            Filters: [{ Key: 'InstanceIds', Values: [config.instanceId] }],
          }),
        );
        const found = out.InstanceInformationList?.find((item) => item.InstanceId === config.instanceId);
        if (!found) throw Object.assign(new Error('not registered'), { name: 'InvalidInstanceId' });
        return found;
      } catch (error) {
        throw ssmError(error, `look up ${config.instanceId}`, config.instanceId);
      }
    })();
    // A failed look-up is not cached: the next call asks again.
    info.catch(() => {
      info = undefined;
    });
    return info;
  }

  async function platform(): Promise<SsmPlatform> {
    if (config.platform) return config.platform;
    return ((await instanceInfo()).PlatformType as SsmPlatform | undefined) ?? 'Linux';
  }

  const execContext = {
    ...context,
    platform,
    defaultTimeoutMs: config.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    defaultMaxOutputBytes: outputCap(config.maxOutputBytes),
  };
  const exec = (argv: readonly string[], options?: ExecOptions) => execThroughSsm(execContext, argv, options);

  async function scan(options: { timeoutMs?: number } = {}): Promise<ScanResult> {
    const details = await instanceInfo();
    const outcome = await runPatchBaseline(
      context,
      { Operation: ['Scan'], RebootOption: ['NoReboot'] },
      options.timeoutMs ?? config.patchTimeoutMs ?? PATCH_TIMEOUT_MS,
    );
    // A failed scan leaves the previous compliance data in place: never report that as current.
    if (outcome.status !== 'Success') throw patchRunError(context, outcome, 'Scan');
    const patches = await pendingPatches(context);
    return {
      os: osFromPlatform(details.PlatformName ?? '', details.PlatformVersion ?? '', details.PlatformType),
      findings: patches.filter(isMissing).map(ssmPatchToFinding),
      rebootRequired: patches.some(isPendingReboot),
      problems: [],
      method: 'aws-ssm: AWS-RunPatchBaseline Scan + DescribeInstancePatches',
      scannedAt: clock.now(),
    };
  }

  async function install(items: readonly InstallItem[], options: InstallOptions = {}) {
    if (items.length === 0)
      throw new AppError('bad_request', 'Nothing to install: the list of packages is empty.');
    const windows = (await platform()) === 'Windows';
    if (deps.publishInstallList) {
      const yaml = installOverrideYaml(items);
      const url = await deps.publishInstallList(
        yaml,
        `warden-${config.instanceId}-${clock.now().getTime()}.yaml`,
      );
      const started = performance.now();
      const outcome = await runPatchBaseline(
        context,
        { Operation: ['Install'], RebootOption: ['NoReboot'], InstallOverrideList: [url] },
        options.timeoutMs ?? config.patchTimeoutMs ?? PATCH_TIMEOUT_MS,
      );
      if (!outcome.started) throw patchRunError(context, outcome, 'Install');
      return installResultFrom(items, outcome, performance.now() - started);
    }
    if (windows) {
      throw new AppError(
        'bad_request',
        `${name} runs Windows: installs go through AWS-RunPatchBaseline with an InstallOverrideList, and no place to publish that list is configured.`,
      );
    }
    // The agent runs commands as root, so the package manager needs no sudo.
    return installWithExec(exec, items, { ...options, sudo: false });
  }

  async function linuxOnly(what: string): Promise<void> {
    if ((await platform()) === 'Windows') {
      throw new AppError('bad_request', `${what} is for Linux authorized_keys; ${name} runs Windows.`);
    }
  }

  return {
    provider: 'aws-ssm',
    name,
    exec,
    scan,
    install,
    addAuthorizedKey: async (login, keyLine, tag) => {
      await linuxOnly('Adding a key');
      return editAuthorizedKeys('aws-ssm', exec, { op: 'add', login, keyLine, tag, sudo: () => false });
    },
    removeAuthorizedKey: async (login, tag) => {
      await linuxOnly('Removing a key');
      return editAuthorizedKeys('aws-ssm', exec, { op: 'remove', login, tag, sudo: () => false });
    },
    close: async () => {
      if (!deps.client) client.destroy();
    },
  };
}
