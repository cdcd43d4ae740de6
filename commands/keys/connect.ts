import { createSshTarget } from '../../integrations/targets/ssh/index.js';
import type { Target } from '../../integrations/targets/types.js';
import { AppError } from '../../lib/errors.js';
import type { Server } from '../../storage/inventory.js';
import { getKeySecret } from '../../storage/key-rotations.js';
import { getServiceKey, listLiveInstallationsOnServers } from '../../storage/keys.js';
import type { Deps } from '../deps.js';

/**
 * How key work reaches a server. Rotation must choose the key for each connection (old key to
 * add, new key to prove, old key again to prove it is refused), and every one of those must be a
 * NEW connection: a pooled one would prove nothing about the key. So the opener takes the private
 * key, and each call gets a target with a pool of its own, closed after use.
 */
export type OpenTarget = (server: Server, privateKey: string) => Target;

/** The login Warden uses when a server names none (the scanning core's default too). */
export const DEFAULT_SERVICE_LOGIN = 'warden';

/** The login Warden uses on a server (servers.connection.user) and whether it may use sudo. */
export function serviceLogin(server: Pick<Server, 'connection'>): { login: string; sudo: boolean } {
  const user = server.connection.user;
  const login = typeof user === 'string' && user !== '' ? user : DEFAULT_SERVICE_LOGIN;
  return { login, sudo: server.connection.sudo === true };
}

/**
 * The default opener: an SSH target with a pinned host key, its own pool, and short timeouts.
 * Rotation never trusts a host key on first use: a server without a pinned key is refused.
 */
export function sshTargetFor(server: Server, privateKey: string): Target {
  if (server.provider !== 'ssh') {
    throw new AppError(
      'bad_request',
      `Server ${server.name} is reached through ${server.provider}, which has no SSH service key to manage.`,
    );
  }
  const hostKey = server.connection.hostKey;
  if (typeof hostKey !== 'string' || !hostKey.startsWith('SHA256:')) {
    throw new AppError(
      'bad_request',
      `Server ${server.name} has no pinned host key (connection.hostKey); Warden will not manage its keys without one.`,
    );
  }
  if (server.connection.jump !== undefined) {
    throw new AppError(
      'bad_request',
      `Server ${server.name} is reached through a jump host; rotating keys through a bastion is not supported yet.`,
    );
  }
  const { login, sudo } = serviceLogin(server);
  return createSshTarget({
    name: `${login}@${server.name}`,
    host: server.address ?? server.name,
    port: server.port ?? 22,
    user: login,
    privateKey,
    hostKey,
    sudo,
    connectTimeoutMs: 15_000,
    commandTimeoutMs: 120_000,
  });
}

/** Run `fn` with a fresh target and always close it. */
export async function withTarget<T>(
  open: OpenTarget,
  server: Server,
  privateKey: string,
  fn: (target: Target) => Promise<T>,
): Promise<T> {
  const target = open(server, privateKey);
  try {
    return await fn(target);
  } finally {
    await target.close().catch(() => undefined);
  }
}

/** The private key of a service key generation, unsealed (only ever held in memory). */
export async function unsealServiceKey(deps: Pick<Deps, 'sql' | 'vault'>, keyId: number): Promise<string> {
  const key = await getServiceKey(deps.sql, keyId);
  if (!key?.secretId) throw new AppError('not_found', `Service key #${keyId} has no sealed private key.`);
  const secret = await getKeySecret(deps.sql, key.secretId);
  if (!secret) throw new AppError('not_found', `The secret of service key #${keyId} is missing.`);
  return deps.vault.openText(secret.sealed, secret.name);
}

/**
 * A target for `server` through the live service key registered on it (what the audit report
 * uses). Throws `not_found` when Warden has no service key there.
 */
export async function openServiceTarget(
  deps: Pick<Deps, 'sql' | 'vault'>,
  server: Server,
  open: OpenTarget = sshTargetFor,
): Promise<Target> {
  const { login } = serviceLogin(server);
  const installations = await listLiveInstallationsOnServers(deps.sql, [server.id]);
  for (const installation of installations.filter((i) => i.login === login)) {
    const key = await getServiceKey(deps.sql, installation.keyId);
    if (key && key.retiredAt === null) return open(server, await unsealServiceKey(deps, key.id));
  }
  throw new AppError(
    'not_found',
    `Warden has no service key registered for ${login}@${server.name}; register one (adoptServiceKey) first.`,
  );
}
