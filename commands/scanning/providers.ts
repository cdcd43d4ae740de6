import { createHash } from 'node:crypto';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { ComputeManagementClient } from '@azure/arm-compute';
import {
  createSsmClient,
  createSsmTarget,
  discoverSsmInstances,
  type SsmAccountConfig,
  type DiscoveredServer as SsmDiscovered,
} from '../../integrations/targets/aws-ssm/index.js';
import {
  type AzureAccountConfig,
  createAzureTarget,
  createComputeClient,
  discoverAzureVms,
  type TokenCredential,
} from '../../integrations/targets/azure/index.js';
import type { Server } from '../../storage/inventory.js';
import type { AccountRecord } from '../../storage/scans.js';
import type { Deps } from '../deps.js';
import type { DiscoveredServer } from './discovery.js';
import { scanFailure } from './errors.js';
import {
  AwsAccountSettings,
  AwsCredentials,
  AzureAccountSettings,
  AzureCredentials,
  openAccountCredentials,
} from './provider-settings.js';
import type { TargetProviderPlugin } from './target-factory.js';

/**
 * The cloud providers scanning and discovery use, built from `accounts` rows:
 *
 * - `aws`: AWS Systems Manager. `accounts.config` holds region, roleArn, externalId, endpoint…
 *   (provider-settings.ts `AwsAccountSettings`); the sealed credentials, when present, are
 *   `{accessKeyId, secretAccessKey, sessionToken?}` (without them the SDK's default chain is
 *   used: the instance role Warden runs under). A server's `provider_id` is its instance id.
 * - `azure`: Azure Resource Manager. `accounts.config` holds subscriptionId, tenantId, clientId,
 *   endpoint…; the sealed credentials are `{clientSecret}`. A server's `provider_id` is its VM
 *   resource id.
 *
 * Credentials are unsealed with deps.vault under `account:<name>` each time a client is made.
 * One API client per account is kept and shared by its targets, and made again when the
 * account's settings or credentials change.
 */
export interface CloudProviderOptions {
  /**
   * Builds Azure's token source from the unsealed service principal. Default: the SDK's
   * ClientSecretCredential against Entra ID. Tests hand out a static token instead.
   */
  azureCredential?: (input: { tenantId: string; clientId: string; clientSecret: string }) => TokenCredential;
}

export interface CloudProviders {
  providers: ReadonlyMap<string, TargetProviderPlugin>;
  /** Releases the cached API clients. */
  close(): void;
}

interface Cached<C> {
  fingerprint: string;
  client: C;
}

/** Changes whenever the account's settings or sealed credentials do. */
function fingerprintOf(account: AccountRecord): string {
  return createHash('sha256')
    .update(JSON.stringify(account.config))
    .update('\0')
    .update(account.sealedCredentials ?? '')
    .digest('hex');
}

function needAccount(server: Server, account: AccountRecord | null, provider: string): AccountRecord {
  if (!account) {
    throw scanFailure(
      'not-configured',
      `${server.name} is on ${provider} but belongs to no account. Set its account (PATCH /api/v1/servers/${server.name}) to one created with POST /api/v1/accounts.`,
    );
  }
  if (account.provider !== provider) {
    throw scanFailure(
      'not-configured',
      `${server.name} is on ${provider} but its account ${account.name} is a ${account.provider} account. Move it to a ${provider} account.`,
    );
  }
  return account;
}

function needProviderId(server: Server, what: string): string {
  if (!server.providerId) {
    throw scanFailure(
      'not-configured',
      `${server.name} has no provider id, so Warden does not know which ${what} it is. Set providerId, or let discovery add it.`,
    );
  }
  return server.providerId;
}

function settingsOf<T>(
  account: AccountRecord,
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } },
): T {
  const parsed = schema.safeParse(account.config);
  if (!parsed.success) {
    throw scanFailure(
      'not-configured',
      `The settings of account ${account.name} are not valid for ${account.provider}; fix them (see GET /api/v1/accounts).`,
    );
  }
  return parsed.data;
}

function credentialsOf<T>(
  deps: Deps,
  account: AccountRecord,
  schema: Parameters<typeof openAccountCredentials<T>>[2],
): T | null {
  const opened = openAccountCredentials(deps.vault, account, schema);
  if (!opened.ok) throw scanFailure('auth-failed', opened.message);
  return opened.value;
}

/**
 * One client per account, remade when the account changes. A replaced client is left to the
 * garbage collector rather than disposed, since scans that started before the change may still
 * be using it; `clear` (at shutdown) disposes the current ones.
 */
function clientCache<C>(dispose: (client: C) => void) {
  const cache = new Map<number, Cached<C>>();
  return {
    get(account: AccountRecord, make: () => C): C {
      const fingerprint = fingerprintOf(account);
      const hit = cache.get(account.id);
      if (hit?.fingerprint === fingerprint) return hit.client;
      const client = make();
      cache.set(account.id, { fingerprint, client });
      return client;
    },
    clear(): void {
      for (const entry of cache.values()) dispose(entry.client);
      cache.clear();
    },
  };
}

function toDiscovered(found: SsmDiscovered[]): DiscoveredServer[] {
  return found.map((s) => ({
    providerId: s.providerId,
    name: s.name,
    address: s.address ?? null,
    ...(s.os ? { os: { ...s.os } } : {}),
    tags: s.tags,
  }));
}

function awsProvider(): { plugin: TargetProviderPlugin; close(): void } {
  const clients = clientCache<SSMClient>((client) => client.destroy());

  function configOf(deps: Deps, account: AccountRecord): SsmAccountConfig & AwsAccountSettings {
    const settings = settingsOf(account, AwsAccountSettings);
    const credentials = credentialsOf(deps, account, AwsCredentials);
    return { ...settings, ...(credentials ? { credentials } : {}) };
  }

  function clientFor(deps: Deps, account: AccountRecord): { client: SSMClient; config: AwsAccountSettings } {
    const config = configOf(deps, account);
    return { client: clients.get(account, () => createSsmClient(config)), config };
  }

  return {
    plugin: {
      async target({ server, account, deps }) {
        const owner = needAccount(server, account, 'aws');
        const instanceId = needProviderId(server, 'EC2 instance or managed node');
        const { client, config } = clientFor(deps, owner);
        return createSsmTarget({ ...config, instanceId, name: server.name }, { client, clock: deps.clock });
      },
      discovery(account, deps) {
        return {
          async discover() {
            const { client, config } = clientFor(deps, account);
            return toDiscovered(await discoverSsmInstances(config, { client }));
          },
        };
      },
    },
    close: () => clients.clear(),
  };
}

function azureProvider(options: CloudProviderOptions): { plugin: TargetProviderPlugin; close(): void } {
  // ARM clients hold no sockets of their own to release.
  const clients = clientCache<ComputeManagementClient>(() => {});

  function clientFor(
    deps: Deps,
    account: AccountRecord,
  ): { client: ComputeManagementClient; config: AzureAccountConfig & AzureAccountSettings } {
    const settings = settingsOf(account, AzureAccountSettings);
    const credentials = credentialsOf(deps, account, AzureCredentials);
    if (!credentials) {
      throw scanFailure(
        'auth-failed',
        `Account ${account.name} has no client secret stored. Create it again with credentials {"clientSecret": "…"}.`,
      );
    }
    const config = { ...settings, clientSecret: credentials.clientSecret };
    const client = clients.get(account, () =>
      createComputeClient(
        config,
        options.azureCredential
          ? {
              credential: options.azureCredential({
                tenantId: settings.tenantId,
                clientId: settings.clientId,
                clientSecret: credentials.clientSecret,
              }),
            }
          : {},
      ),
    );
    return { client, config };
  }

  return {
    plugin: {
      async target({ server, account, deps }) {
        const owner = needAccount(server, account, 'azure');
        const resourceId = needProviderId(server, 'virtual machine');
        const { client, config } = clientFor(deps, owner);
        return createAzureTarget({ ...config, resourceId, name: server.name }, { client, clock: deps.clock });
      },
      discovery(account, deps) {
        return {
          async discover() {
            const { client, config } = clientFor(deps, account);
            return toDiscovered(await discoverAzureVms(config, { client }));
          },
        };
      },
    },
    close: () => clients.clear(),
  };
}

/**
 * @example
 * const cloud = createCloudProviders();
 * const deps = { ...deps, targetProviders: cloud.providers };   // scans and discovery use them
 * // at shutdown: cloud.close();
 */
export function createCloudProviders(options: CloudProviderOptions = {}): CloudProviders {
  const aws = awsProvider();
  const azure = azureProvider(options);
  return {
    providers: new Map<string, TargetProviderPlugin>([
      ['aws', aws.plugin],
      ['azure', azure.plugin],
    ]),
    close() {
      aws.close();
      azure.close();
    },
  };
}
