import { describe, expect, it } from 'vitest';
import { createConnectionPool, type PoolEvent } from './pool.js';

/** A stand-in connection: the pool only needs to close it and hear that it went away. */
interface FakeConnection {
  id: number;
  key: string;
  closed: boolean;
  drop(): void;
}

function harness(options: Parameters<typeof createConnectionPool>[1] = {}) {
  const events: PoolEvent[] = [];
  const opened: FakeConnection[] = [];
  const listeners = new Map<FakeConnection, () => void>();
  const pending: { key: string; resolve(): void; reject(error: Error): void }[] = [];
  const pool = createConnectionPool<FakeConnection>(
    {
      close: (connection) => {
        connection.closed = true;
      },
      watch: (connection, gone) => {
        listeners.set(connection, gone);
      },
    },
    { ...options, onEvent: (event) => events.push(event) },
  );
  /** An opener whose connection is made only when the test says so (manual) or at once. */
  const opener =
    (key: string, manual = false) =>
    () =>
      new Promise<FakeConnection>((resolve, reject) => {
        const make = () => {
          const connection: FakeConnection = {
            id: opened.length + 1,
            key,
            closed: false,
            drop: () => listeners.get(connection)?.(),
          };
          opened.push(connection);
          resolve(connection);
        };
        if (manual) pending.push({ key, resolve: make, reject });
        else make();
      });
  const peak = (field: 'channels' | 'connections') => Math.max(0, ...events.map((event) => event[field]));
  return { pool, events, opened, pending, opener, peak };
}

describe('connection pool', () => {
  it('reuses one connection for one host and marks later leases as reused', async () => {
    const { pool, opener, opened } = harness();
    const first = await pool.acquire('a', opener('a'));
    first.release();
    const second = await pool.acquire('a', opener('a'));
    expect(opened).toHaveLength(1);
    expect([first.reused, second.reused]).toEqual([false, true]);
    second.release();
    pool.close();
  });

  it('caps channels per host and serves waiters first come, first served', async () => {
    const { pool, opener, peak } = harness({ maxChannelsPerHost: 2 });
    const order: number[] = [];
    const leases = await Promise.all([pool.acquire('a', opener('a')), pool.acquire('a', opener('a'))]);
    const waiting = [3, 4].map((n) =>
      pool.acquire('a', opener('a')).then((lease) => {
        order.push(n);
        return lease;
      }),
    );
    await Promise.resolve();
    expect(order).toEqual([]);
    leases[0]!.release();
    leases[1]!.release();
    const later = await Promise.all(waiting);
    expect(order).toEqual([3, 4]);
    expect(peak('channels')).toBe(2);
    for (const lease of later) lease.release();
    pool.close();
  });

  it('caps connections globally, handing an idle connection over to a waiting host at once', async () => {
    const { pool, opener, opened, peak } = harness({ maxConnections: 2, idleTimeoutMs: 60_000 });
    const a = await pool.acquire('a', opener('a'));
    const b = await pool.acquire('b', opener('b'));
    const c = pool.acquire('c', opener('c'));
    expect(pool.stats().queued).toBe(1);
    a.release();
    const leaseC = await c;
    expect(opened.map((connection) => [connection.key, connection.closed])).toEqual([
      ['a', true],
      ['b', false],
      ['c', false],
    ]);
    expect(peak('connections')).toBe(2);
    b.release();
    leaseC.release();
    pool.close();
  });

  it('closes an idle connection to make room rather than queue behind it', async () => {
    const { pool, opener, opened } = harness({ maxConnections: 1, idleTimeoutMs: 60_000 });
    (await pool.acquire('a', opener('a'))).release();
    const b = await pool.acquire('b', opener('b'));
    expect(opened.map((connection) => connection.closed)).toEqual([true, false]);
    b.release();
    pool.close();
  });

  it('rejects every waiter of a host whose connection fails, and frees the slot', async () => {
    const { pool, opener, pending } = harness({ maxConnections: 1 });
    const one = pool.acquire('a', opener('a', true));
    const two = pool.acquire('a', opener('a', true));
    const other = pool.acquire('b', opener('b'));
    pending[0]!.reject(new Error('no route'));
    await expect(one).rejects.toThrow('no route');
    await expect(two).rejects.toThrow('no route');
    const lease = await other;
    expect(lease.connection.key).toBe('b');
    lease.release();
    pool.close();
  });

  it('opens a new connection after the old one went away', async () => {
    const { pool, opener, opened } = harness();
    const first = await pool.acquire('a', opener('a'));
    first.release();
    opened[0]!.drop();
    expect(pool.stats().connections).toBe(0);
    const second = await pool.acquire('a', opener('a'));
    expect(second.connection.id).toBe(2);
    expect(second.reused).toBe(false);
    second.release();
    pool.close();
  });

  it('discards a broken connection so the next lease gets a fresh one', async () => {
    const { pool, opener, opened } = harness();
    const lease = await pool.acquire('a', opener('a'));
    lease.discard();
    expect(opened[0]!.closed).toBe(true);
    const next = await pool.acquire('a', opener('a'));
    expect(next.connection.id).toBe(2);
    next.release();
    pool.close();
  });

  it('serves tunnels without using a channel slot, and keeps their connection from idling out', async () => {
    const { pool, opener, opened } = harness({
      maxChannelsPerHost: 1,
      maxConnections: 2,
      idleTimeoutMs: 60_000,
    });
    const busy = await pool.acquire('bastion', opener('bastion'));
    const tunnel = await pool.acquire('bastion', opener('bastion'), { counted: false });
    busy.release();
    // Needs a slot: the bastion is not idle (a tunnel is open), so it must not be closed.
    const b = await pool.acquire('b', opener('b'));
    const c = pool.acquire('c', opener('c'));
    expect(opened[0]!.closed).toBe(false);
    tunnel.release();
    b.release();
    (await c).release();
    pool.close();
  });

  it('refuses new leases once closed and closes every connection', async () => {
    const { pool, opener, opened } = harness();
    const lease = await pool.acquire('a', opener('a'));
    pool.close();
    expect(opened[0]!.closed).toBe(true);
    lease.release();
    await expect(pool.acquire('a', opener('a'))).rejects.toThrow(/closed/);
  });
});
