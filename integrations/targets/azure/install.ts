import type { ComputeManagementClient } from '@azure/arm-compute';
import { AppError } from '../../../lib/errors.js';
import type { ExecResult, InstallItem, InstallItemResult, InstallResult, TargetErrorKind } from '../types.js';
import { azureError, type VmRef } from './client.js';

type InstallBody = Parameters<ComputeManagementClient['virtualMachines']['installPatches']>[2];

// fnmatch characters would widen a mask to other packages; none is valid in a name or version.
const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._+:~^-]*$/;
const KB = /^(KB)?\d{4,8}$/i;

/**
 * The installPatches body. Linux: one `name=version` mask per item in
 * `linuxParameters.packageNameMasksToInclude` and no classifications, so only those packages are
 * selected (the Linux patch extension splits a mask on "=" and matches the version; the REST
 * reference's "packageName_packageVersion" is not what the extension parses). Windows: the KB
 * numbers in `windowsParameters.kbNumbersToInclude`. Never reboots: Warden schedules reboots.
 */
export function azureInstallBody(
  osType: 'Linux' | 'Windows',
  items: readonly InstallItem[],
  maximumDuration: string,
): InstallBody {
  if (items.length === 0) {
    // An empty inclusion list means "everything" to the patch extension.
    throw new AppError('bad_request', 'Nothing to install: the list of packages is empty.');
  }
  if (!/^PT(\d+H)?(\d+M)?$/.test(maximumDuration) || maximumDuration === 'PT') {
    throw new AppError('bad_request', `"${maximumDuration}" is not an ISO 8601 duration such as PT2H.`);
  }
  if (osType === 'Windows') {
    const bad = items.find((item) => !KB.test(item.package));
    if (bad)
      throw new AppError(
        'bad_request',
        `"${bad.package}" is not a KB number; Windows updates are installed by KB.`,
      );
    return {
      maximumDuration,
      rebootSetting: 'Never',
      windowsParameters: { kbNumbersToInclude: items.map((item) => item.package.replace(/^KB/i, '')) },
    };
  }
  const bad = items.find((item) => !NAME.test(item.package) || !VERSION.test(item.version));
  if (bad) {
    throw new AppError(
      'bad_request',
      `"${bad.package}" ${bad.version} is not a package name and version Warden can send to Azure.`,
    );
  }
  return {
    maximumDuration,
    rebootSetting: 'Never',
    linuxParameters: { packageNameMasksToInclude: items.map((item) => `${item.package}=${item.version}`) },
  };
}

export interface InstallRun {
  client: ComputeManagementClient;
  vm: VmRef;
  name: string;
  osType: 'Linux' | 'Windows';
  items: readonly InstallItem[];
  maximumDuration: string;
  pollIntervalMs: number;
  timeoutMs: number;
}

/** Runs installPatches and reports each item from the operation's own per-patch results. */
export async function installPatches(run: InstallRun): Promise<InstallResult> {
  const body = azureInstallBody(run.osType, run.items, run.maximumDuration);
  const started = performance.now();
  let result: Awaited<ReturnType<ComputeManagementClient['virtualMachines']['installPatches']>>;
  try {
    result = await run.client.virtualMachines.installPatches(run.vm.resourceGroup, run.vm.vmName, body, {
      updateIntervalInMs: run.pollIntervalMs,
      abortSignal: AbortSignal.timeout(run.timeoutMs),
    });
  } catch (error) {
    throw azureError(error, 'install patches', run.name);
  }
  const patches = result.patches ?? [];
  const items: InstallItemResult[] = run.items.map((item) => {
    const kb = item.package.replace(/^KB/i, '');
    const found = patches.find((patch) =>
      run.osType === 'Windows' ? patch.kbId?.replace(/^KB/i, '') === kb : patch.name === item.package,
    );
    if (found?.installationState === 'Installed')
      return { package: item.package, version: item.version, status: 'installed' };
    return {
      package: item.package,
      version: item.version,
      status: 'failed',
      detail: found
        ? `Azure reported ${found.installationState ?? 'no state'} for this patch.`
        : 'Azure did not select this patch: the version may no longer be available, or the name differs.',
    };
  });
  const failed = items.some((item) => item.status === 'failed');
  const timedOut = result.maintenanceWindowExceeded === true;
  const summary = `installPatches ${result.status}: installed ${result.installedPatchCount ?? 0}, failed ${result.failedPatchCount ?? 0}, pending ${result.pendingPatchCount ?? 0}, reboot ${result.rebootStatus ?? 'unknown'}`;
  const exec: ExecResult = {
    exitCode: failed || result.status !== 'Succeeded' ? 1 : 0,
    signal: null,
    stdout: summary,
    stderr: result.error?.message ?? '',
    truncated: false,
    timedOut,
    durationMs: performance.now() - started,
  };
  const failure: TargetErrorKind | undefined = timedOut ? 'timeout' : failed ? 'command-failed' : undefined;
  return failure ? { items, exec, failure } : { items, exec };
}
