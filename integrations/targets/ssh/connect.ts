import net from 'node:net';
import type { Duplex } from 'node:stream';
import ssh2, { type KexAlgorithm } from 'ssh2';
import type { IntegrationError } from '../../../lib/errors.js';
import { targetError } from '../errors.js';
import { createHostKeyCheck, type OnNewHostKey } from './host-keys.js';

// Under native ESM ssh2 only has a default export (see STACK.md).
export type SshClient = InstanceType<typeof ssh2.Client>;

/** One SSH server and how to log in to it. */
export interface SshEndpoint {
  host: string;
  port: number;
  user: string;
  /** The private key (OpenSSH or PEM), unsealed from the vault by the caller; never read from disk here. */
  privateKey: string;
  passphrase?: string;
  /** Pinned host key fingerprint (`SHA256:…`). */
  hostKey?: string;
}

export interface OpenOptions {
  endpoint: SshEndpoint;
  trustOnFirstUse: boolean;
  onNewHostKey?: OnNewHostKey;
  /** Covers TCP connect, handshake and authentication together. */
  connectTimeoutMs: number;
  keepaliveIntervalMs: number;
  /** An already-open stream to the server, e.g. a tunnel through a bastion. */
  sock?: Duplex;
}

// curve25519 first: cheapest on both sides, and what the benchmark compares against.
const KEX: KexAlgorithm[] = [
  'curve25519-sha256',
  'curve25519-sha256@libssh.org',
  'ecdh-sha2-nistp256',
  'ecdh-sha2-nistp384',
  'ecdh-sha2-nistp521',
  'diffie-hellman-group16-sha512',
  'diffie-hellman-group18-sha512',
  'diffie-hellman-group14-sha256',
  'diffie-hellman-group-exchange-sha256',
];

interface LevelledError extends Error {
  level?: string;
  code?: string;
}

function describeFailure(options: OpenOptions, error: LevelledError): IntegrationError {
  const { host, port, user } = options.endpoint;
  const where = `${host}:${port}`;
  if (error.level === 'client-timeout') {
    return targetError(
      'ssh',
      'timeout',
      `${where} did not complete the SSH login within ${options.connectTimeoutMs} ms. Check that the host is up and that port ${port} is reachable.`,
      { cause: error, details: { host, port } },
    );
  }
  if (error.level === 'client-authentication') {
    return targetError(
      'ssh',
      'auth-failed',
      `${where} refused Warden's key for ${user}. Check that the key is in ${user}'s authorized_keys and the account is not locked.`,
      { cause: error, details: { host, port, user } },
    );
  }
  return targetError(
    'ssh',
    'unreachable',
    `Could not reach ${where} over SSH (${error.code ?? error.message}). Check the address, port and firewall.`,
    { cause: error, details: { host, port } },
  );
}

/**
 * Opens and authenticates one SSH connection. The socket is made here so that TCP_NODELAY can be
 * set (ssh2 leaves it off, which cost two 40 ms stalls per login on loopback), and so that a
 * bastion's forwarded stream can be used instead. Resolves when the connection is ready.
 */
export function openSshConnection(options: OpenOptions): Promise<SshClient> {
  const { endpoint } = options;
  const check = createHostKeyCheck({
    host: endpoint.host,
    port: endpoint.port,
    pinned: endpoint.hostKey,
    trustOnFirstUse: options.trustOnFirstUse,
    onNewHostKey: options.onNewHostKey,
  });
  const sock = options.sock ?? net.connect({ host: endpoint.host, port: endpoint.port });
  if (sock instanceof net.Socket) sock.setNoDelay(true);
  const client = new ssh2.Client();
  return new Promise<SshClient>((resolve, reject) => {
    let settled = false;
    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      client.end();
      sock.destroy();
      const refusal = check.refusal();
      reject(refusal ?? describeFailure(options, error as LevelledError));
    };
    // ssh2 emits 'error' for every late failure too; without a listener it would crash the process.
    client.on('error', fail);
    client.once('close', () =>
      fail(Object.assign(new Error('the server closed the connection during login'), { code: 'ECONNRESET' })),
    );
    client.once('ready', () => {
      settled = true;
      resolve(client);
    });
    try {
      connect(client, sock);
    } catch (cause) {
      // ssh2 throws at once when the private key does not parse.
      settled = true;
      sock.destroy();
      reject(
        targetError(
          'ssh',
          'auth-failed',
          `Warden's private key for ${endpoint.user}@${endpoint.host} could not be read; re-import it.`,
          {
            cause,
            details: { host: endpoint.host, port: endpoint.port },
          },
        ),
      );
    }
  });

  function connect(target: SshClient, stream: Duplex): void {
    target.connect({
      sock: stream,
      username: endpoint.user,
      privateKey: endpoint.privateKey,
      passphrase: endpoint.passphrase,
      readyTimeout: options.connectTimeoutMs,
      keepaliveInterval: options.keepaliveIntervalMs,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer, verify: (accept: boolean) => void) => check.verifier(key, verify),
      algorithms: { kex: KEX },
    });
  }
}

/** Opens a tunnel through a connected bastion to `host:port` (what `ProxyJump` does). */
export function forwardThrough(bastion: SshClient, host: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    bastion.forwardOut('127.0.0.1', 0, host, port, (error, stream) => {
      if (error) {
        reject(
          targetError(
            'ssh',
            'unreachable',
            `The bastion could not open a tunnel to ${host}:${port} (${error.message}). Check that it allows TCP forwarding and can reach the host.`,
            { cause: error, details: { host, port } },
          ),
        );
        return;
      }
      resolve(stream);
    });
  });
}
