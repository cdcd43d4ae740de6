import {
  createLocalTarget,
  createSshConnectionPool,
  createSshTarget,
  type HostKeyInfo,
  type SshConnectionPool,
  type SshEndpointConfig,
} from '../../integrations/targets/index.js';
import type { Target } from '../../integrations/targets/types.js';
import { withTx } from '../../storage/db.js';
import { getServerByName, type Server } from '../../storage/inventory.js';
import {
  type AccountRecord,
  firstSealedSecret,
  getAccount,
  getPinnedHostKey,
  pinHostKey,
} from '../../storage/scans.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import type { DiscoverySource } from './discovery.js';
import { scanFailure } from './errors.js';
import { createScanLimiter, type ScanLimiter, type ScanLimits } from './limiter.js';

/**
 * Builds the `Target` for a server row. One factory per process (on `Deps.targets`) so that every
 * scan shares one SSH connection pool and one set of concurrency limits.
 *
 * - `local`: this machine.
 * - `ssh`: the service key unsealed from `secrets` (`ssh-key:<server>`, then `ssh-key:<account>`,
 *   then `ssh-key:default`, each sealed with its own name as context), the pinned host key from
 *   `servers.connection.hostKey`, trust on first use unless the server or its account turns it off.
 * - anything else (`aws`, `azure`, `gcp`): the plugin registered under that provider in
 *   `Deps.targetProviders`; without one the scan fails with `not-configured`.
 */
export interface TargetFactory {
  forServer(server: Server, deps: Deps): Promise<Target>;
  readonly limiter: ScanLimiter;
  /** Closes the shared SSH connections. */
  close(): Promise<void>;
}

/** What a cloud provider's plugin gets to build one server's Target. */
export interface ProviderTargetRequest {
  server: Server;
  account: AccountRecord | null;
  deps: Deps;
}

/** A cloud provider (aws-ssm, azure) plugged into scanning and discovery; see Deps.targetProviders. */
export interface TargetProviderPlugin {
  target(request: ProviderTargetRequest): Promise<Target>;
  /** Lists an account's servers for the discovery job; absent: the provider has no discovery. */
  discovery?(account: AccountRecord, deps: Deps): DiscoverySource;
}

export interface TargetFactoryOptions {
  /** Shared pool; one is made (64 connections, 4 channels per host) when omitted. */
  pool?: SshConnectionPool;
  limits?: ScanLimits;
  ssh?: {
    /** Login when neither the server nor its account names one. Default `warden`. */
    defaultUser?: string;
    connectTimeoutMs?: number;
    commandTimeoutMs?: number;
  };
}

const DEFAULT_SSH_USER = 'warden';

/** The secret names tried for a server's SSH key, most specific first. */
export function sshKeySecretNames(server: Pick<Server, 'name' | 'accountName'>): string[] {
  const names = [`ssh-key:${server.name}`];
  if (server.accountName) names.push(`ssh-key:${server.accountName}`);
  names.push('ssh-key:default');
  return names;
}

function flag(value: unknown): boolean | undefined {
  return typeof value === 'boolean' ? value : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Trust on first use: the server's own setting, else its account's, else on. */
export function trustsOnFirstUse(server: Pick<Server, 'connection'>, account: AccountRecord | null): boolean {
  return flag(server.connection.trustOnFirstUse) ?? flag(account?.config.trustOnFirstUse) ?? true;
}

async function privateKeyFor(deps: Deps, server: Server): Promise<string> {
  const names = sshKeySecretNames(server);
  const secret = await firstSealedSecret(deps.sql, names);
  if (!secret) {
    throw scanFailure(
      'auth-failed',
      `No SSH key is stored for ${server.name}: store Warden's private key as the secret ${names.join(', or ')}.`,
    );
  }
  try {
    return deps.vault.openText(secret.sealed, secret.name);
  } catch (cause) {
    throw scanFailure(
      'auth-failed',
      `The SSH key ${secret.name} could not be unsealed (wrong master key, or sealed under another name). Store it again.`,
      { cause },
    );
  }
}

async function endpointFor(
  deps: Deps,
  server: Server,
  account: AccountRecord | null,
  defaultUser: string,
): Promise<SshEndpointConfig> {
  const host = server.address ?? server.name;
  return {
    host,
    port: server.port ?? 22,
    user: text(server.connection.user) ?? text(account?.config.user) ?? defaultUser,
    privateKey: await privateKeyFor(deps, server),
    ...(text(server.connection.hostKey) ? { hostKey: text(server.connection.hostKey) } : {}),
  };
}

/** Records a host key seen on first contact on the server's row and the trail; false refuses it. */
async function recordHostKey(deps: Deps, server: Server, info: HostKeyInfo): Promise<boolean> {
  return withTx(deps.sql, async (tx) => {
    const pinned = await pinHostKey(tx, server.id, info.fingerprint, deps.clock.now());
    if (!pinned) return (await getPinnedHostKey(tx, server.id)) === info.fingerprint;
    await recordEvent(tx, deps, {
      actor: 'system',
      action: 'server.host-key-recorded',
      subject: { type: 'server', id: server.name },
      projectId: server.projectId,
      data: {
        server: server.name,
        host: info.host,
        port: info.port,
        fingerprint: info.fingerprint,
        keyType: info.keyType,
        via: 'trust-on-first-use',
      },
    });
    return true;
  });
}

/**
 * @example
 * const targets = createTargetFactory({ limits: { global: 32 } });
 * const deps = { ...deps, targets };
 * const target = await targets.forServer(server, deps);
 */
export function createTargetFactory(options: TargetFactoryOptions = {}): TargetFactory {
  const ownPool = !options.pool;
  const pool = options.pool ?? createSshConnectionPool({ maxConnections: 64, maxChannelsPerHost: 4 });
  const limiter = createScanLimiter(options.limits);
  const defaultUser = options.ssh?.defaultUser ?? DEFAULT_SSH_USER;

  async function sshTarget(server: Server, account: AccountRecord | null, deps: Deps): Promise<Target> {
    const endpoint = await endpointFor(deps, server, account, defaultUser);
    let jump: { server: Server; endpoint: SshEndpointConfig } | undefined;
    const jumpName = text(server.connection.jump);
    if (jumpName) {
      const bastion = await getServerByName(deps.sql, jumpName);
      if (!bastion || bastion.id === server.id) {
        throw scanFailure(
          'unreachable',
          `${server.name} goes through the jump host ${jumpName}, which is not in the inventory. Add it, or change the server's connection.jump.`,
        );
      }
      const bastionAccount =
        bastion.accountId === null ? null : ((await getAccount(deps.sql, bastion.accountId)) ?? null);
      jump = { server: bastion, endpoint: await endpointFor(deps, bastion, bastionAccount, defaultUser) };
    }
    const onNewHostKey = (info: HostKeyInfo) => {
      const isJump = jump && info.host === jump.endpoint.host && info.port === (jump.endpoint.port ?? 22);
      return recordHostKey(deps, isJump && jump ? jump.server : server, info);
    };
    return createSshTarget(
      {
        ...endpoint,
        name: server.name,
        trustOnFirstUse: trustsOnFirstUse(server, account),
        sudo: flag(server.connection.sudo) ?? flag(account?.config.sudo) ?? false,
        ...(jump ? { jump: jump.endpoint } : {}),
        ...(options.ssh?.connectTimeoutMs ? { connectTimeoutMs: options.ssh.connectTimeoutMs } : {}),
        ...(options.ssh?.commandTimeoutMs ? { commandTimeoutMs: options.ssh.commandTimeoutMs } : {}),
      },
      { pool, onNewHostKey, clock: deps.clock },
    );
  }

  return {
    limiter,
    async forServer(server, deps) {
      const account =
        server.accountId === null ? null : ((await getAccount(deps.sql, server.accountId)) ?? null);
      switch (server.provider) {
        case 'local':
          return createLocalTarget({ name: server.name }, { clock: deps.clock });
        case 'ssh':
          return sshTarget(server, account, deps);
        default: {
          const plugin = deps.targetProviders?.get(server.provider);
          if (!plugin) {
            throw scanFailure(
              'not-configured',
              `${server.name} is on ${server.provider}, and this Warden has no ${server.provider} integration configured, so it cannot be scanned yet.`,
            );
          }
          return plugin.target({ server, account, deps });
        }
      }
    },
    async close() {
      if (ownPool) pool.close();
    },
  };
}
