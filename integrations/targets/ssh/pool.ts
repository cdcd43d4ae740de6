/**
 * Connections shared by all SSH targets: one connection per host, reused for the host's several
 * commands (each a channel), at most `maxChannelsPerHost` channels at once on it, and at most
 * `maxConnections` connections in all. Waiters are served first come, first served. Real hosts
 * keep sshd's default `MaxStartups 10:30:100`, which drops logins that arrive together, so the
 * caps matter as much for the hosts as for Warden.
 */
export interface PoolEvent {
  type: 'open' | 'open-failed' | 'acquire' | 'release' | 'close';
  key: string;
  /** Channels in use on this key after the event. */
  channels: number;
  /** Connections open or opening, over all keys, after the event. */
  connections: number;
}

export interface ConnectionPoolOptions {
  /** Global cap on connections (default 64). */
  maxConnections?: number;
  /** Channels at once on one host's connection (default 4). */
  maxChannelsPerHost?: number;
  /** Close a connection after this long unused (default 30 s). */
  idleTimeoutMs?: number;
  /** Observes the pool, for logs and tests. */
  onEvent?: (event: PoolEvent) => void;
}

/** How the pool ends connections and learns that one ended by itself. */
export interface PoolDriver<C> {
  close(connection: C): void;
  /** Calls `gone` when the connection ends on its own (error, server hung up). */
  watch(connection: C, gone: () => void): void;
}

export interface Lease<C> {
  readonly connection: C;
  /** True when the connection served an earlier lease (it may have gone stale since). */
  readonly reused: boolean;
  release(): void;
  /** Closes the connection as broken; the next acquire opens a new one. */
  discard(): void;
}

export interface AcquireOptions {
  /**
   * False for a lease that holds the connection without using a session slot, such as a
   * ProxyJump tunnel through a bastion (sshd's MaxSessions does not count forwarded channels).
   * It is served as soon as the connection is up and keeps it from being closed as idle.
   */
  counted?: boolean;
}

export interface ConnectionPool<C> {
  acquire(key: string, open: () => Promise<C>, options?: AcquireOptions): Promise<Lease<C>>;
  /** Closes one key's connection (waiters get a fresh one). */
  closeKey(key: string): void;
  /** Closes every connection and refuses waiters. */
  close(): void;
  stats(): { connections: number; queued: number; channels: Record<string, number> };
}

interface Waiter<C> {
  counted: boolean;
  resolve(lease: Lease<C>): void;
  reject(error: unknown): void;
}

interface Entry<C> {
  key: string;
  open: () => Promise<C>;
  state: 'new' | 'queued' | 'opening' | 'ready' | 'gone';
  connection?: C;
  active: number;
  tunnels: number;
  leases: number;
  waiters: Waiter<C>[];
  idleTimer?: NodeJS.Timeout;
  lastUsed: number;
}

export function createConnectionPool<C>(
  driver: PoolDriver<C>,
  options: ConnectionPoolOptions = {},
): ConnectionPool<C> {
  const maxConnections = options.maxConnections ?? 64;
  const maxChannels = options.maxChannelsPerHost ?? 4;
  const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  const entries = new Map<string, Entry<C>>();
  const queue: Entry<C>[] = [];
  let connections = 0;
  let closed = false;

  const emit = (type: PoolEvent['type'], entry: Entry<C>): void =>
    options.onEvent?.({ type, key: entry.key, channels: entry.active, connections });

  function lease(entry: Entry<C>, counted: boolean): Lease<C> {
    let done = false;
    const reused = entry.leases > 0;
    entry.leases++;
    return {
      connection: entry.connection!,
      reused,
      release() {
        if (done) return;
        done = true;
        if (counted) entry.active--;
        else entry.tunnels--;
        entry.lastUsed = performance.now();
        emit('release', entry);
        if (entry.state !== 'ready') return;
        if (entry.active === 0 && entry.tunnels === 0 && entry.waiters.length === 0) {
          // Another host is waiting for a connection slot: hand this one over now.
          if (queue.length > 0) {
            shut(entry);
            return;
          }
          entry.idleTimer = setTimeout(() => shut(entry), idleTimeoutMs);
          entry.idleTimer.unref();
        }
        serve(entry);
      },
      discard() {
        if (done) return;
        done = true;
        if (counted) entry.active--;
        else entry.tunnels--;
        emit('release', entry);
        shut(entry);
      },
    };
  }

  function serve(entry: Entry<C>): void {
    if (entry.state !== 'ready') return;
    // Tunnels take no session slot, so they never wait behind commands.
    for (const tunnel of entry.waiters.filter((waiter) => !waiter.counted)) {
      entry.waiters.splice(entry.waiters.indexOf(tunnel), 1);
      clearTimeout(entry.idleTimer);
      entry.tunnels++;
      tunnel.resolve(lease(entry, false));
    }
    while (entry.active < maxChannels && entry.waiters.length > 0) {
      clearTimeout(entry.idleTimer);
      entry.active++;
      emit('acquire', entry);
      entry.waiters.shift()!.resolve(lease(entry, true));
    }
  }

  function start(entry: Entry<C>): void {
    entry.state = 'opening';
    connections++;
    emit('open', entry);
    entry.open().then(
      (connection) => {
        if (entry.state === 'gone') {
          driver.close(connection);
          return;
        }
        entry.connection = connection;
        entry.state = 'ready';
        driver.watch(connection, () => forget(entry));
        serve(entry);
      },
      (error: unknown) => {
        const waiters = entry.waiters.splice(0);
        if (entry.state !== 'gone') forget(entry, 'open-failed');
        for (const waiter of waiters) waiter.reject(error);
      },
    );
  }

  /** Removes an entry whose connection ended (or never came), freeing its global slot. */
  function forget(entry: Entry<C>, type: PoolEvent['type'] = 'close'): void {
    if (entry.state === 'gone') return;
    const held = entry.state === 'opening' || entry.state === 'ready';
    entry.state = 'gone';
    clearTimeout(entry.idleTimer);
    if (entries.get(entry.key) === entry) entries.delete(entry.key);
    const at = queue.indexOf(entry);
    if (at >= 0) queue.splice(at, 1);
    if (held) connections--;
    emit(type, entry);
    // Whoever was still waiting for this host gets a new connection.
    const waiters = entry.waiters.splice(0);
    if (waiters.length > 0 && !closed) {
      const fresh = entryFor(entry.key, entry.open);
      fresh.waiters.push(...waiters);
      place(fresh);
    }
    drainQueue();
  }

  function shut(entry: Entry<C>): void {
    const connection = entry.connection;
    forget(entry);
    if (connection !== undefined) driver.close(connection);
  }

  /** Finds a global slot for a new entry: a free one, an idle connection to close, or the queue. */
  function place(entry: Entry<C>): void {
    if (entry.state !== 'new') return;
    if (connections < maxConnections) {
      start(entry);
      return;
    }
    let idlest: Entry<C> | undefined;
    for (const other of entries.values()) {
      if (
        other.state === 'ready' &&
        other.active === 0 &&
        other.tunnels === 0 &&
        (!idlest || other.lastUsed < idlest.lastUsed)
      ) {
        idlest = other;
      }
    }
    if (idlest) {
      shut(idlest);
      // shut() may already have started a queued entry in the freed slot.
      if (entry.state === 'new' && connections < maxConnections) {
        start(entry);
        return;
      }
    }
    if (entry.state === 'new') {
      entry.state = 'queued';
      queue.push(entry);
    }
  }

  function drainQueue(): void {
    while (!closed && connections < maxConnections && queue.length > 0) {
      const next = queue.shift()!;
      if (next.state === 'queued') start(next);
    }
  }

  function entryFor(key: string, open: () => Promise<C>): Entry<C> {
    let entry = entries.get(key);
    if (!entry) {
      entry = {
        key,
        open,
        state: 'new',
        active: 0,
        tunnels: 0,
        leases: 0,
        waiters: [],
        lastUsed: performance.now(),
      };
      entries.set(key, entry);
    }
    return entry;
  }

  return {
    acquire(key, open, acquireOptions = {}) {
      if (closed) return Promise.reject(new Error('The SSH connection pool is closed.'));
      return new Promise<Lease<C>>((resolve, reject) => {
        const entry = entryFor(key, open);
        entry.waiters.push({ counted: acquireOptions.counted !== false, resolve, reject });
        if (entry.state === 'new') place(entry);
        else serve(entry);
      });
    },
    closeKey(key) {
      const entry = entries.get(key);
      if (entry && entry.state === 'ready') shut(entry);
    },
    close() {
      closed = true;
      for (const entry of [...entries.values()]) {
        const waiters = entry.waiters.splice(0);
        shut(entry);
        for (const waiter of waiters) waiter.reject(new Error('The SSH connection pool was closed.'));
      }
      queue.length = 0;
    },
    stats() {
      const channels: Record<string, number> = {};
      for (const entry of entries.values()) channels[entry.key] = entry.active;
      return { connections, queued: queue.length, channels };
    },
  };
}
