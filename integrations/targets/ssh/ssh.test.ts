import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import net from 'node:net';
import sshpk from 'sshpk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SshdHandle, sshdUnavailableReason, startSshd } from '../../../test/sshd.js';
import { classifyTargetError } from '../errors.js';
import { createSshConnectionPool, createSshTarget, type PoolEvent, type SshTargetConfig } from './index.js';

const reason = sshdUnavailableReason();
if (reason) console.warn(`ssh target tests skipped: ${reason}`);

function newPrivateKey(): sshpk.PrivateKey {
  const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' });
  return sshpk.parsePrivateKey(pem, 'pem');
}

/** Records pool events and the most channels and connections seen at once. */
function observe() {
  const events: PoolEvent[] = [];
  const peak = { channels: 0, connections: 0 };
  const waiters: { type: PoolEvent['type']; resolve: () => void }[] = [];
  return {
    events,
    peak,
    onEvent(event: PoolEvent) {
      events.push(event);
      peak.channels = Math.max(peak.channels, event.channels);
      peak.connections = Math.max(peak.connections, event.connections);
      for (const waiter of waiters.filter((w) => w.type === event.type)) waiter.resolve();
    },
    opens: () => events.filter((event) => event.type === 'open').length,
    /** Resolves at the next event of that type; fails after a deadline. */
    next(type: PoolEvent['type'], withinMs = 5_000): Promise<void> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${type} event within ${withinMs} ms`)), withinMs);
        waiters.push({
          type,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
  };
}

describe.skipIf(Boolean(reason))(`ssh target${reason ? ` (skipped: ${reason})` : ''}`, () => {
  let sshd: SshdHandle;
  let bastion: SshdHandle;
  const config = (overrides: Partial<SshTargetConfig> = {}): SshTargetConfig => ({
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    privateKey: sshd.clientKey.privateKey,
    hostKey: sshd.hostKeyFingerprint,
    connectTimeoutMs: 5_000,
    ...overrides,
  });

  beforeAll(async () => {
    sshd = await startSshd({ users: ['wardenssh2', 'wardenssh3'] });
    bastion = await startSshd({ users: ['wardenjump'], allowTcpForwarding: true });
  });
  afterAll(async () => {
    await sshd?.stop();
    await bastion?.stop();
  });

  it('gives up on a host that accepts TCP but never speaks, quickly, while other hosts go on', async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const pool = createSshConnectionPool();
    try {
      const port = (silent.address() as net.AddressInfo).port;
      const dead = createSshTarget(config({ port, connectTimeoutMs: 300 }), { pool });
      const alive = createSshTarget(config(), { pool });
      const started = performance.now();
      const [deadResult, aliveResult] = await Promise.allSettled([
        dead.exec(['true']),
        alive.exec(['echo', 'up']),
      ]);
      expect(performance.now() - started).toBeLessThan(3_000);
      expect(deadResult.status).toBe('rejected');
      expect(classifyTargetError((deadResult as PromiseRejectedResult).reason)).toBe('timeout');
      expect(aliveResult).toMatchObject({ status: 'fulfilled', value: { stdout: 'up\n' } });
    } finally {
      pool.close();
      silent.close();
    }
  });

  it('reports a closed port as unreachable and a wrong client key as an auth failure', async () => {
    const pool = createSshConnectionPool();
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = await createSshTarget(config({ port }), { pool })
      .exec(['true'])
      .catch((e: unknown) => e);
    expect(classifyTargetError(refused)).toBe('unreachable');
    const denied = await createSshTarget(config({ privateKey: newPrivateKey().toString('openssh') }), {
      pool,
    })
      .exec(['true'])
      .catch((e: unknown) => e);
    expect(classifyTargetError(denied)).toBe('auth-failed');
    expect((denied as Error).message).toMatch(/refused Warden's key for wardenssh2/);
    const unreadable = await createSshTarget(config({ privateKey: 'not a key' }), { pool })
      .exec(['true'])
      .catch((e: unknown) => e);
    expect(classifyTargetError(unreadable)).toBe('auth-failed');
    expect((unreadable as Error).message).toMatch(/could not be read/);
    pool.close();
  });

  it('runs several commands over one connection', async () => {
    const seen = observe();
    const pool = createSshConnectionPool({ onEvent: seen.onEvent });
    const target = createSshTarget(config({ user: 'wardenssh3' }), { pool });
    const before = sshd.count(/Accepted publickey for wardenssh3/);
    for (let i = 0; i < 5; i++) expect((await target.exec(['echo', String(i)])).stdout).toBe(`${i}\n`);
    await Promise.all([1, 2, 3].map((i) => target.exec(['echo', String(i)])));
    expect(seen.opens()).toBe(1);
    expect(sshd.count(/Accepted publickey for wardenssh3/) - before).toBe(1);
    pool.close();
  });

  it('gives two inventory servers behind one address a connection each, and shares within one', async () => {
    const seen = observe();
    const pool = createSshConnectionPool({ onEvent: seen.onEvent });
    const web1 = createSshTarget(config({ name: 'web-1' }), { pool });
    const web1Again = createSshTarget(config({ name: 'web-1' }), { pool });
    const web2 = createSshTarget(config({ name: 'web-2' }), { pool });
    await Promise.all([web1.exec(['true']), web1Again.exec(['true']), web2.exec(['true'])]);
    expect(seen.opens()).toBe(2);
    pool.close();
  });

  it('never runs more channels on one host than the per-host cap', async () => {
    const seen = observe();
    const pool = createSshConnectionPool({ maxChannelsPerHost: 2, onEvent: seen.onEvent });
    const target = createSshTarget(config(), { pool });
    const results = await Promise.all(Array.from({ length: 8 }, () => target.exec(['sleep', '0.1'])));
    expect(results.every((result) => result.exitCode === 0)).toBe(true);
    expect(seen.peak.channels).toBe(2);
    expect(seen.opens()).toBe(1);
    pool.close();
  });

  it('never holds more connections than the global cap, and serves every host in turn', async () => {
    const seen = observe();
    const pool = createSshConnectionPool({ maxConnections: 1, onEvent: seen.onEvent });
    const a = createSshTarget(config({ user: 'wardenssh2' }), { pool });
    const b = createSshTarget(config({ user: 'wardenssh3' }), { pool });
    const results = await Promise.all([a.exec(['id', '-un']), b.exec(['id', '-un']), a.exec(['id', '-un'])]);
    expect(results.map((result) => result.stdout)).toEqual(['wardenssh2\n', 'wardenssh3\n', 'wardenssh2\n']);
    expect(seen.peak.connections).toBe(1);
    pool.close();
  });

  it('opens a new connection when the server dropped the pooled one', async () => {
    const seen = observe();
    const pool = createSshConnectionPool({ onEvent: seen.onEvent });
    const target = createSshTarget(config(), { pool });
    const pid = (await target.exec(['sh', '-c', 'echo $PPID'])).stdout.trim();
    // The shell's parent is this connection's sshd process: ending it drops the connection.
    const closed = seen.next('close');
    expect(spawnSync('kill', [pid]).status).toBe(0);
    await closed;
    expect((await target.exec(['echo', 'again'])).stdout).toBe('again\n');
    expect(seen.opens()).toBe(2);
    pool.close();
  });

  it('drains a 200 MB output with memory bounded by the cap, not by the output', async () => {
    const pool = createSshConnectionPool();
    const target = createSshTarget(config(), { pool });
    const base = process.memoryUsage().rss;
    let peak = base;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 10);
    try {
      const result = await target.exec(['sh', '-c', 'head -c 209715200 /dev/zero'], {
        maxOutputBytes: 1024 * 1024,
      });
      expect(result).toMatchObject({ exitCode: 0, truncated: true });
      expect(result.stdout.length).toBe(1024 * 1024);
    } finally {
      clearInterval(sampler);
      pool.close();
    }
    // Keeping the whole output would cost over 200 MB; the cap keeps it to a few.
    expect(peak - base).toBeLessThan(100 * 1024 * 1024);
  });

  it('reaches a host through a bastion (ProxyJump), pinning both host keys', async () => {
    const pool = createSshConnectionPool();
    const jump = {
      host: bastion.host,
      port: bastion.port,
      user: bastion.user,
      privateKey: bastion.clientKey.privateKey,
      hostKey: bastion.hostKeyFingerprint,
    };
    const before = sshd.count(/Accepted publickey/);
    const target = createSshTarget(config({ jump }), { pool });
    expect((await target.exec(['id', '-un'])).stdout).toBe('wardenssh2\n');
    expect((await target.exec(['echo', 'reused'])).stdout).toBe('reused\n');
    expect(bastion.count(/Accepted publickey for wardenjump/)).toBe(1);
    expect(sshd.count(/Accepted publickey/) - before).toBe(1);

    const wrongPin = createSshTarget(config({ jump, hostKey: bastion.hostKeyFingerprint }), { pool });
    expect(classifyTargetError(await wrongPin.exec(['true']).catch((e: unknown) => e))).toBe(
      'host-key-changed',
    );
    pool.close();
  });

  it('reports a bastion that forbids forwarding as unreachable', async () => {
    const pool = createSshConnectionPool();
    // The main sshd has AllowTcpForwarding no.
    const jump = {
      host: sshd.host,
      port: sshd.port,
      user: 'wardenssh3',
      privateKey: sshd.clientKey.privateKey,
    };
    const target = createSshTarget(config({ jump: { ...jump, hostKey: sshd.hostKeyFingerprint } }), { pool });
    const error = await target.exec(['true']).catch((e: unknown) => e);
    expect(classifyTargetError(error)).toBe('unreachable');
    expect((error as Error).message).toMatch(/forwarding/);
    pool.close();
  });

  it('lets a key added by addAuthorizedKey log in, and stops it once removed', async () => {
    const pool = createSshConnectionPool();
    const admin = createSshTarget(config({ user: 'wardenssh3' }), { pool });
    const privateKey = newPrivateKey();
    const publicLine = `from="127.0.0.1" ${privateKey.toPublic().toString('ssh')} granted`;
    const pem = privateKey.toString('openssh');
    await admin.addAuthorizedKey('wardenssh3', publicLine, 'grant-1');
    const granted = createSshTarget(config({ user: 'wardenssh3', privateKey: pem }), { pool });
    expect((await granted.exec(['id', '-un'])).stdout).toBe('wardenssh3\n');
    await granted.close();
    await admin.removeAuthorizedKey('wardenssh3', 'grant-1');
    const revoked = await granted.exec(['true']).catch((e: unknown) => e);
    expect(classifyTargetError(revoked)).toBe('auth-failed');
    pool.close();
  });
});
