import type { ComputeManagementClient } from '@azure/arm-compute';
import type { DiscoveredServer } from '../aws-ssm/discovery.js';
import { type AzureAccountConfig, type AzureClientDeps, azureError, createComputeClient } from './client.js';
import { osFromImage } from './patches.js';

export type { DiscoveredServer } from '../aws-ssm/discovery.js';

export interface AzureDiscoveryDeps extends AzureClientDeps {
  client?: ComputeManagementClient;
}

type VirtualMachine = Awaited<ReturnType<ComputeManagementClient['virtualMachines']['get']>>;

export function azureVmToServer(vm: VirtualMachine, subscriptionId: string): DiscoveredServer | null {
  if (!vm.id || !vm.name) return null;
  const osType = vm.storageProfile?.osDisk?.osType;
  const image = vm.storageProfile?.imageReference;
  return {
    providerId: vm.id,
    name: vm.osProfile?.computerName || vm.name,
    // The private address lives on the network interface, a separate resource not read here.
    address: undefined,
    os: osFromImage({ osType, publisher: image?.publisher, offer: image?.offer, sku: image?.sku }),
    tags: { ...(vm.tags ?? {}) },
    accountId: subscriptionId,
    platform: osType === 'Windows' ? 'Windows' : 'Linux',
  };
}

/** Every VM in the subscription (Virtual Machines - List All, following nextLink). */
export async function discoverAzureVms(
  config: AzureAccountConfig,
  deps: AzureDiscoveryDeps = {},
): Promise<DiscoveredServer[]> {
  const client = deps.client ?? createComputeClient(config, deps);
  const servers: DiscoveredServer[] = [];
  try {
    for await (const vm of client.virtualMachines.listAll()) {
      const server = azureVmToServer(vm, config.subscriptionId);
      if (server) servers.push(server);
    }
  } catch (error) {
    throw azureError(error, 'list the virtual machines');
  }
  return servers;
}
