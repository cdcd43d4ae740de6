import { runScriptWithSh } from './cloud-shell.js';

/**
 * The VM side of the fake Azure Resource Manager: the model a VM answers with, its last patch
 * assessment, and what it does with a Run Command script (scripted, or `'sh'`: run it with /bin/sh
 * on this machine). Output follows the action Run Command's documented limit: the last 4,096 bytes.
 */

/** One entry of assessPatches' availablePatches, as the wire carries it. */
export interface AzurePatch {
  patchId: string;
  name: string;
  version?: string;
  kbId?: string;
  classifications: string[];
  rebootBehavior: 'Unknown' | 'NeverReboots' | 'AlwaysRequiresReboot' | 'CanRequestReboot';
  activityId: string;
  publishedDate: string;
  lastModifiedDateTime: string;
  assessmentState: 'Unknown' | 'Available';
}

export interface RunOutcome {
  stdout?: string;
  stderr?: string;
  exitCode?: number;
}

export type RunCommandBehaviour = 'sh' | ((script: string, commandId: string) => RunOutcome);

export interface FakeAzureVm {
  readonly id: string;
  readonly name: string;
  readonly resourceGroup: string;
  location: string;
  osType: 'Linux' | 'Windows';
  tags: Record<string, string>;
  imageReference: { publisher: string; offer: string; sku: string; version: string };
  computerName: string;
  /** What the next assessPatches reports. */
  assessment: { status: string; rebootPending: boolean; availablePatches: AzurePatch[] };
  /** Scripts received through runCommand, joined with newlines as the agent writes them. */
  readonly scripts: string[];
  /** installPatches request bodies. */
  readonly installs: Record<string, unknown>[];
  onRunCommand(behaviour: RunCommandBehaviour): FakeAzureVm;
  /** Internal: the scripted behaviour. */
  behaviour?: RunCommandBehaviour;
  /** Internal: a Run Command is executing (the agent takes one at a time). */
  running: boolean;
}

export const RUN_COMMAND_OUTPUT_BYTES = 4096;

function lastBytes(data: Buffer | string): string {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8');
  return bytes.subarray(Math.max(0, bytes.length - RUN_COMMAND_OUTPUT_BYTES)).toString('utf8');
}

export function createVm(
  subscriptionId: string,
  resourceGroup: string,
  name: string,
  init: Partial<FakeAzureVm>,
): FakeAzureVm {
  const vm: FakeAzureVm = {
    id: `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/virtualMachines/${name}`,
    name,
    resourceGroup,
    location: 'westeurope',
    osType: 'Linux',
    tags: {},
    imageReference: {
      publisher: 'Canonical',
      offer: '0001-com-ubuntu-server-jammy',
      sku: '22_04-lts-gen2',
      version: 'latest',
    },
    computerName: name,
    assessment: { status: 'Succeeded', rebootPending: false, availablePatches: [] },
    scripts: [],
    installs: [],
    running: false,
    onRunCommand(behaviour) {
      vm.behaviour = behaviour;
      return vm;
    },
    ...init,
  };
  return vm;
}

export function vmModel(vm: FakeAzureVm): Record<string, unknown> {
  return {
    id: vm.id,
    name: vm.name,
    type: 'Microsoft.Compute/virtualMachines',
    location: vm.location,
    tags: vm.tags,
    properties: {
      vmId: `00000000-0000-4000-8000-${vm.name
        .padStart(12, '0')
        .slice(-12)
        .replace(/[^0-9a-f]/g, '0')}`,
      hardwareProfile: { vmSize: 'Standard_B2s' },
      storageProfile: {
        imageReference: vm.imageReference,
        osDisk: {
          osType: vm.osType,
          name: `${vm.name}_OsDisk_1`,
          createOption: 'FromImage',
          managedDisk: { id: osDiskId(vm) },
        },
      },
      osProfile: { computerName: vm.computerName, adminUsername: 'azureuser' },
      provisioningState: 'Succeeded',
    },
  };
}

export function osDiskId(vm: FakeAzureVm): string {
  const sub = vm.id.split('/')[2];
  return `/subscriptions/${sub}/resourceGroups/${vm.resourceGroup}/providers/Microsoft.Compute/disks/${vm.name}_OsDisk_1`;
}

/** Runs the script as the agent would and resolves with the RunCommandResult body. */
export async function runCommandResult(
  vm: FakeAzureVm,
  commandId: string,
  script: string,
): Promise<Record<string, unknown>> {
  let stdout: Buffer | string = '';
  let stderr: Buffer | string = '';
  let exitCode = 0;
  if (vm.behaviour === 'sh') {
    // The documented ceiling for one script is 90 minutes.
    const run = await runScriptWithSh(script, { timeoutMs: 90 * 60 * 1000 }).done;
    stdout = run.stdout;
    stderr = run.stderr;
    exitCode = run.exitCode ?? 1;
  } else if (vm.behaviour) {
    const outcome = vm.behaviour(script, commandId);
    stdout = outcome.stdout ?? '';
    stderr = outcome.stderr ?? '';
    exitCode = outcome.exitCode ?? 0;
  }
  const out = lastBytes(stdout);
  const err = lastBytes(stderr);
  if (vm.osType === 'Windows') {
    return {
      value: [
        {
          code: 'ComponentStatus/StdOut/succeeded',
          level: 'Info',
          displayStatus: 'Provisioning succeeded',
          message: out,
        },
        {
          code: 'ComponentStatus/StdErr/succeeded',
          level: 'Info',
          displayStatus: 'Provisioning succeeded',
          message: err,
        },
      ],
    };
  }
  const head =
    exitCode === 0
      ? 'Enable succeeded: '
      : `Enable failed: failed to execute command: command terminated with exit status=${exitCode}`;
  return {
    value: [
      {
        code: exitCode === 0 ? 'ProvisioningState/succeeded' : 'ProvisioningState/failed/1',
        level: exitCode === 0 ? 'Info' : 'Error',
        displayStatus: exitCode === 0 ? 'Provisioning succeeded' : 'Provisioning failed',
        message: `${head}\n[stdout]\n${out}\n[stderr]\n${err}`,
      },
    ],
  };
}
