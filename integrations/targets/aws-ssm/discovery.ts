import {
  DescribeInstanceInformationCommand,
  type DescribeInstanceInformationCommandOutput,
  type InstanceInformation,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import type { OsInfo } from '../../os/types.js';
import { createSsmClient, type SsmAccountConfig, ssmError } from './client.js';
import { osFromPlatform } from './patches.js';

/** A machine a cloud inventory knows about, as discovery hands it to the scanning core. */
export interface DiscoveredServer {
  /** The provider's own id: an SSM instance id (i-…, mi-…) or an Azure VM resource id. */
  providerId: string;
  name: string;
  address?: string;
  os?: OsInfo;
  /** Provider tags; SSM's inventory carries none (EC2 tags need ec2:DescribeInstances). */
  tags: Record<string, string>;
  accountId?: string;
  /** Whether the agent is reachable now (SSM PingStatus Online, Azure VM running). */
  online?: boolean;
  /** Linux or Windows, which decides the script documents used. */
  platform?: 'Linux' | 'Windows' | 'MacOS';
}

export interface SsmDiscoveryDeps {
  /** An existing client (shared with the targets); one is made from the config otherwise. */
  client?: SSMClient;
}

export function ssmInstanceToServer(info: InstanceInformation, accountId?: string): DiscoveredServer | null {
  if (!info.InstanceId) return null;
  const platform = info.PlatformType as DiscoveredServer['platform'] | undefined;
  return {
    providerId: info.InstanceId,
    name: info.Name || info.ComputerName || info.InstanceId,
    address: info.IPAddress || undefined,
    os: info.PlatformName
      ? osFromPlatform(info.PlatformName, info.PlatformVersion ?? '', info.PlatformType)
      : undefined,
    tags: {},
    accountId,
    online: info.PingStatus === 'Online',
    platform,
  };
}

/**
 * Every managed node SSM knows in the account's region (DescribeInstanceInformation, 50 a page),
 * online or not: the caller decides what an offline one means.
 */
export async function discoverSsmInstances(
  config: SsmAccountConfig,
  deps: SsmDiscoveryDeps = {},
): Promise<DiscoveredServer[]> {
  const client = deps.client ?? createSsmClient(config);
  const servers: DiscoveredServer[] = [];
  let token: string | undefined;
  const seen = new Set<string>();
  do {
    let page: DescribeInstanceInformationCommandOutput;
    try {
      page = await client.send(new DescribeInstanceInformationCommand({ MaxResults: 50, NextToken: token }));
    } catch (error) {
      throw ssmError(error, 'list the managed instances');
    }
    for (const info of page.InstanceInformationList ?? []) {
      const server = ssmInstanceToServer(info, config.accountId);
      if (server && !seen.has(server.providerId)) {
        seen.add(server.providerId);
        servers.push(server);
      }
    }
    // A token that repeats would loop for ever; SSM never sends one, but a proxy might.
    token = page.NextToken && page.NextToken !== token ? page.NextToken : undefined;
  } while (token);
  if (!deps.client) client.destroy();
  return servers;
}
