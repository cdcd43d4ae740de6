import type { ComputeManagementClient } from '@azure/arm-compute';
import { type Clock, systemClock } from '../../../lib/clock.js';
import { AppError } from '../../../lib/errors.js';
import { editAuthorizedKeys } from '../authorized-keys.js';
import { targetError } from '../errors.js';
import { DEFAULT_COMMAND_TIMEOUT_MS, outputCap } from '../output.js';
import type {
  ExecOptions,
  InstallItem,
  InstallOptions,
  ScanResult,
  SnapshotResult,
  Target,
} from '../types.js';
import {
  type AzureAccountConfig,
  type AzureClientDeps,
  azureError,
  createComputeClient,
  parseVmId,
} from './client.js';
import { execThroughRunCommand } from './exec.js';
import { installPatches } from './install.js';
import { azurePatchToFinding, osFromImage } from './patches.js';

export type { AzureAccountConfig, AzureClientDeps, TokenCredential, VmRef } from './client.js';
export { azureError, createComputeClient, parseVmId } from './client.js';
export {
  type AzureDiscoveryDeps,
  azureVmToServer,
  type DiscoveredServer,
  discoverAzureVms,
} from './discovery.js';
export { azureInstallBody } from './install.js';
export { azureClassification, azurePatchToFinding, azureSeverity, osFromImage } from './patches.js';
export { AZURE_INLINE_OUTPUT_BYTES, linuxRunnerScript, parseRunnerOutput } from './runner.js';

export interface AzureTargetConfig extends AzureAccountConfig {
  /** The VM's resource id: /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Compute/virtualMachines/<name>. */
  resourceId: string;
  /** Shown in logs and chat (default `azure:<rg>/<name>`). */
  name?: string;
  commandTimeoutMs?: number;
  maxOutputBytes?: number;
  /** Long-running operation poll interval (default 5 s; tests pass a few ms). */
  pollIntervalMs?: number;
  /** Run Command's own latency allowed on top of a command's timeout (default 5 min). */
  runCommandOverheadMs?: number;
  /** Bound on assessPatches / installPatches / a snapshot (default 60 min). */
  patchTimeoutMs?: number;
  /** installPatches maximumDuration (ISO 8601, default PT2H). */
  maximumDuration?: string;
}

export interface AzureTargetDeps extends AzureClientDeps {
  /** Shared by every target of the subscription; one is made per target otherwise. */
  client?: ComputeManagementClient;
  clock?: Clock;
}

type VirtualMachine = Awaited<ReturnType<ComputeManagementClient['virtualMachines']['get']>>;

const LABEL = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$/;

/**
 * An Azure VM as a Target: exec through Run Command, scan through assessPatches, install through
 * installPatches (all long-running operations), and OS-disk snapshots.
 *
 * @example
 * const vm = createAzureTarget({
 *   subscriptionId, tenantId, clientId, clientSecret,
 *   resourceId: '/subscriptions/…/resourceGroups/web/providers/Microsoft.Compute/virtualMachines/web-1',
 * });
 * const { findings } = await vm.scan();
 */
export function createAzureTarget(config: AzureTargetConfig, deps: AzureTargetDeps = {}): Target {
  const ref = parseVmId(config.resourceId);
  if (ref.subscriptionId.toLowerCase() !== config.subscriptionId.toLowerCase()) {
    throw new AppError(
      'bad_request',
      `${config.resourceId} is not in subscription ${config.subscriptionId}.`,
    );
  }
  const client = deps.client ?? createComputeClient(config, deps);
  const clock = deps.clock ?? systemClock;
  const name = config.name ?? `azure:${ref.resourceGroup}/${ref.vmName}`;
  const pollIntervalMs = config.pollIntervalMs ?? 5000;
  const patchTimeoutMs = config.patchTimeoutMs ?? 60 * 60 * 1000;
  let model: Promise<VirtualMachine> | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  function vm(): Promise<VirtualMachine> {
    model ??= client.virtualMachines.get(ref.resourceGroup, ref.vmName).catch((error: unknown) => {
      model = undefined;
      throw azureError(error, `read ${ref.vmName}`, name);
    });
    return model;
  }

  async function osType(): Promise<'Linux' | 'Windows'> {
    return (await vm()).storageProfile?.osDisk?.osType === 'Windows' ? 'Windows' : 'Linux';
  }

  function serialize<T>(work: () => Promise<T>): Promise<T> {
    const run = queue.then(work, work);
    queue = run.catch(() => undefined);
    return run;
  }

  const options = () => ({
    updateIntervalInMs: pollIntervalMs,
    abortSignal: AbortSignal.timeout(patchTimeoutMs),
  });
  const execContext = {
    client,
    vm: ref,
    name,
    osType,
    defaultTimeoutMs: config.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    defaultMaxOutputBytes: outputCap(config.maxOutputBytes),
    pollIntervalMs,
    overheadMs: config.runCommandOverheadMs ?? 5 * 60 * 1000,
    serialize,
  };
  const exec = (argv: readonly string[], execOptions?: ExecOptions) =>
    execThroughRunCommand(execContext, argv, execOptions);

  async function scan(): Promise<ScanResult> {
    const model = await vm();
    const type = await osType();
    let result: Awaited<ReturnType<ComputeManagementClient['virtualMachines']['assessPatches']>>;
    try {
      result = await client.virtualMachines.assessPatches(ref.resourceGroup, ref.vmName, options());
    } catch (error) {
      throw azureError(error, 'assess patches', name);
    }
    if (result.status !== 'Succeeded' && result.status !== 'CompletedWithWarnings') {
      throw targetError(
        'azure',
        'command-failed',
        `${name}: the patch assessment ended ${result.status ?? 'without a status'}: ${result.error?.message ?? 'no detail'}.`,
      );
    }
    const image = model.storageProfile?.imageReference;
    return {
      os: osFromImage({ osType: type, publisher: image?.publisher, offer: image?.offer, sku: image?.sku }),
      findings: (result.availablePatches ?? []).map((patch) => azurePatchToFinding(patch, type)),
      rebootRequired: result.rebootPending ?? null,
      problems:
        result.status === 'CompletedWithWarnings'
          ? [
              {
                kind: 'command_failed',
                severity: 'warning',
                message: `Azure finished the assessment with warnings: ${result.error?.message ?? 'see the VM in Update Manager'}. Some patches may be missing.`,
                retryable: true,
              },
            ]
          : [],
      method: 'azure: assessPatches',
      scannedAt: clock.now(),
    };
  }

  async function install(items: readonly InstallItem[], installOptions: InstallOptions = {}) {
    return installPatches({
      client,
      vm: ref,
      name,
      osType: await osType(),
      items,
      maximumDuration: config.maximumDuration ?? 'PT2H',
      pollIntervalMs,
      timeoutMs: installOptions.timeoutMs ?? patchTimeoutMs,
    });
  }

  async function snapshot({ label }: { label: string }): Promise<SnapshotResult> {
    if (!LABEL.test(label ?? '')) {
      throw new AppError(
        'bad_request',
        `"${label}" cannot name a snapshot: use up to 41 letters, digits, "_", "." and "-".`,
      );
    }
    const model = await vm();
    const diskId = model.storageProfile?.osDisk?.managedDisk?.id;
    if (!diskId || !model.location) {
      throw new AppError('bad_request', `${name} has no managed OS disk, so Azure cannot snapshot it.`);
    }
    const now = clock.now();
    const stamp = now.toISOString().replace(/[-:]/g, '').slice(0, 15);
    const snapshotName = `${ref.vmName.slice(0, 30)}-${label}-${stamp}`;
    try {
      const made = await client.snapshots.createOrUpdate(
        ref.resourceGroup,
        snapshotName,
        {
          location: model.location,
          creationData: { createOption: 'Copy', sourceResourceId: diskId },
          incremental: true,
          tags: { 'warden-label': label, 'warden-vm': ref.vmName },
        },
        options(),
      );
      return {
        id:
          made.id ??
          `/subscriptions/${ref.subscriptionId}/resourceGroups/${ref.resourceGroup}/providers/Microsoft.Compute/snapshots/${snapshotName}`,
        createdAt: made.timeCreated ?? now,
      };
    } catch (error) {
      throw azureError(error, `snapshot the OS disk of ${ref.vmName}`, name);
    }
  }

  async function linuxOnly(what: string): Promise<void> {
    if ((await osType()) === 'Windows')
      throw new AppError('bad_request', `${what} is for Linux authorized_keys; ${name} runs Windows.`);
  }

  return {
    provider: 'azure',
    name,
    exec,
    scan,
    install,
    snapshot,
    // Run Command runs scripts as root on Linux, so no sudo is needed for other logins' files.
    addAuthorizedKey: async (login, keyLine, tag) => {
      await linuxOnly('Adding a key');
      return editAuthorizedKeys('azure', exec, { op: 'add', login, keyLine, tag, sudo: () => false });
    },
    removeAuthorizedKey: async (login, tag) => {
      await linuxOnly('Removing a key');
      return editAuthorizedKeys('azure', exec, { op: 'remove', login, tag, sudo: () => false });
    },
    close: async () => {
      model = undefined;
    },
  };
}
