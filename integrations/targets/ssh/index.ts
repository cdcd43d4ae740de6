import { createHash } from 'node:crypto';
import { type Clock, systemClock } from '../../../lib/clock.js';
import { AppError } from '../../../lib/errors.js';
import { editAuthorizedKeys } from '../authorized-keys.js';
import { targetError } from '../errors.js';
import { installWithExec } from '../install.js';
import { commandTimeout, DEFAULT_COMMAND_TIMEOUT_MS, outputCap } from '../output.js';
import { scanWithExec } from '../scan.js';
import { commandArgv, quoteArgv } from '../shell-quote.js';
import type { ExecOptions, ExecResult, Target } from '../types.js';
import { forwardThrough, openSshConnection, type SshClient, type SshEndpoint } from './connect.js';
import { ChannelOpenError, execOnConnection } from './exec.js';
import type { OnNewHostKey } from './host-keys.js';
import { type ConnectionPool, type ConnectionPoolOptions, createConnectionPool } from './pool.js';

export type { SshClient } from './connect.js';
export type { HostKeyInfo, OnNewHostKey } from './host-keys.js';
export { hostKeyFingerprint, normalizeFingerprint } from './host-keys.js';
export type { PoolEvent } from './pool.js';

/** How to reach a server: address, login, key and pinned host key. */
export interface SshEndpointConfig {
  host: string;
  /** Default 22. */
  port?: number;
  user: string;
  /** The private key, unsealed from the vault by the caller. */
  privateKey: string;
  passphrase?: string;
  /** Pinned host key fingerprint (`SHA256:…`); any other key is refused. */
  hostKey?: string;
}

export interface SshTargetConfig extends SshEndpointConfig {
  /** Shown in logs and chat (default `user@host:port`). */
  name?: string;
  /** Accept an unpinned host key on first contact and report it through `onNewHostKey`. */
  trustOnFirstUse?: boolean;
  /** A bastion to go through (ProxyJump). Its own host key is pinned the same way. */
  jump?: SshEndpointConfig;
  /** Use `sudo -n` for what needs root (installs, other logins' keys) when the login is not root. */
  sudo?: boolean;
  /** TCP connect, handshake and login together (default 10 s). */
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  /** SSH keepalive (default 15 s; three missed answers end the connection). */
  keepaliveIntervalMs?: number;
  maxOutputBytes?: number;
}

export type SshConnectionPool = ConnectionPool<SshClient>;

export interface SshTargetDeps {
  /** Shared by all SSH targets so the caps are global; one is made per target if omitted. */
  pool?: SshConnectionPool;
  /** Required with `trustOnFirstUse`: records (and audits) the fingerprint seen on first contact. */
  onNewHostKey?: OnNewHostKey;
  clock?: Clock;
}

/** The pool every SSH target of a process should share. */
export function createSshConnectionPool(options: ConnectionPoolOptions = {}): SshConnectionPool {
  return createConnectionPool<SshClient>(
    {
      close: (client) => client.end(),
      watch: (client, gone) => {
        client.once('close', gone);
      },
    },
    options,
  );
}

function endpointOf(config: SshEndpointConfig): SshEndpoint {
  if (!config.host || !config.user || !config.privateKey) {
    throw new AppError('bad_request', 'An SSH target needs a host, a user and a private key.');
  }
  const port = config.port ?? 22;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new AppError('bad_request', `${port} is not a valid SSH port.`);
  }
  return { ...config, port };
}

/**
 * Pool key: a connection is shared only by targets with the same login, key, pin and route, and,
 * when `server` is given, the same server (an inventory name): two inventory servers behind one
 * address (a NAT, a load balancer, the benchmark's simulated fleet) are distinct machines.
 */
function poolKey(endpoint: SshEndpoint, via?: string, server?: string): string {
  const keyId = createHash('sha256').update(endpoint.privateKey).digest('hex').slice(0, 12);
  const base = `${endpoint.user}@${endpoint.host}:${endpoint.port}#${endpoint.hostKey ?? 'tofu'}#${keyId}`;
  const named = server ? `${server}=${base}` : base;
  return via ? `${named} via ${via}` : named;
}

/**
 * A server reached over SSH, as a Target. Commands share one pooled connection per host.
 *
 * @example
 * const pool = createSshConnectionPool({ maxConnections: 64 });
 * const web1 = createSshTarget(
 *   { host: '10.0.0.5', user: 'warden', privateKey, hostKey: 'SHA256:…', sudo: true },
 *   { pool },
 * );
 * const { stdout } = await web1.exec(['uname', '-r']);
 */
export function createSshTarget(config: SshTargetConfig, deps: SshTargetDeps = {}): Target {
  const endpoint = endpointOf(config);
  const jump = config.jump ? endpointOf(config.jump) : undefined;
  const trustOnFirstUse = config.trustOnFirstUse === true;
  if (trustOnFirstUse && !deps.onNewHostKey) {
    throw new AppError(
      'internal',
      'Trust on first use needs an onNewHostKey callback to record the host key.',
    );
  }
  const pool = deps.pool ?? createSshConnectionPool();
  const clock = deps.clock ?? systemClock;
  const connectTimeoutMs = config.connectTimeoutMs ?? 10_000;
  const keepaliveIntervalMs = config.keepaliveIntervalMs ?? 15_000;
  const defaultTimeout = config.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const defaultCap = outputCap(config.maxOutputBytes);
  const name = config.name ?? `${endpoint.user}@${endpoint.host}:${endpoint.port}`;
  const isRoot = endpoint.user === 'root';
  const jumpKey = jump ? poolKey(jump) : undefined;
  const key = poolKey(endpoint, jumpKey, config.name);

  const open = (target: SshEndpoint, sock?: Parameters<typeof openSshConnection>[0]['sock']) =>
    openSshConnection({
      endpoint: target,
      trustOnFirstUse,
      onNewHostKey: deps.onNewHostKey,
      connectTimeoutMs,
      keepaliveIntervalMs,
      sock,
    });

  async function connect(): Promise<SshClient> {
    if (!jump || !jumpKey) return open(endpoint);
    const tunnel = await pool.acquire(jumpKey, () => open(jump), { counted: false });
    try {
      const stream = await forwardThrough(tunnel.connection, endpoint.host, endpoint.port);
      const client = await open(endpoint, stream);
      client.once('close', () => tunnel.release());
      return client;
    } catch (error) {
      tunnel.release();
      throw error;
    }
  }

  async function exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const command = quoteArgv(
      commandArgv(argv, { sudo: options.sudo === true && !isRoot, env: options.env }),
    );
    const request = {
      command,
      timeoutMs: commandTimeout(options.timeoutMs, defaultTimeout),
      maxOutputBytes: outputCap(options.maxOutputBytes, defaultCap),
      stdin: options.stdin,
    };
    // One retry, only when a reused connection turned out dead before the command started.
    for (let attempt = 0; ; attempt++) {
      const lease = await pool.acquire(key, connect);
      try {
        const result = await execOnConnection(lease.connection, request);
        lease.release();
        return result;
      } catch (error) {
        const gone = !(error instanceof ChannelOpenError) || error.connectionGone;
        // A refused channel on a live connection must not take the other channels down with it.
        if (gone) lease.discard();
        else lease.release();
        if (error instanceof ChannelOpenError && gone && lease.reused && attempt === 0) continue;
        throw targetError(
          'ssh',
          'unreachable',
          `${name}: ${error instanceof Error ? error.message : String(error)} Try again; if it keeps failing, check the host.`,
          { cause: error, details: { host: endpoint.host, port: endpoint.port } },
        );
      }
    }
  }

  /** Root is needed: none when logged in as root, sudo only when configured. */
  function rootVia(what: string): boolean {
    if (isRoot) return false;
    if (config.sudo) return true;
    throw new AppError(
      'forbidden',
      `${what} on ${name} needs root, and ${endpoint.user} has no sudo configured in Warden. Enable sudo for this target.`,
    );
  }

  const keySudo = (login: string): boolean =>
    login === endpoint.user ? false : rootVia(`Editing ${login}'s keys`);

  return {
    provider: 'ssh',
    name,
    exec,
    scan: async (options = {}) => scanWithExec(exec, { method: 'ssh', clock, timeoutMs: options.timeoutMs }),
    install: async (items, options = {}) =>
      installWithExec(exec, items, { ...options, sudo: rootVia('Installing packages') }),
    addAuthorizedKey: async (login, keyLine, tag) =>
      editAuthorizedKeys('ssh', exec, {
        op: 'add',
        login,
        keyLine,
        tag,
        sudo: keySudo,
      }),
    removeAuthorizedKey: async (login, tag) =>
      editAuthorizedKeys('ssh', exec, {
        op: 'remove',
        login,
        tag,
        sudo: keySudo,
      }),
    close: async () => {
      pool.closeKey(key);
      // A pool made for this target alone has nothing else to serve.
      if (!deps.pool) pool.close();
    },
  };
}
