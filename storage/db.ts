import net from 'node:net';
import pg from 'pg';
import postgres from 'postgres';

/** The query handle every storage function takes: the pool, or a transaction inside it. */
export type Sql = postgres.Sql;
/** A connection reserved for one transaction (see withTx). */
export type Tx = postgres.ReservedSql;
export type Queryable = Sql | Tx;

/** How to reach the database, shared by postgres.js (queries) and pg (migrations, agenda). */
export interface DbTarget {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  /** Set for tests that run in their own schema. */
  schema?: string;
  /** Embedded PGlite is one shared session: keep pools tiny. */
  embedded: boolean;
  ssl?: boolean;
}

export function targetFromUrl(url: string, schema?: string): DbTarget {
  const u = new URL(url);
  const ssl = u.searchParams.get('sslmode');
  return {
    host: decodeURIComponent(u.hostname || u.searchParams.get('host') || '127.0.0.1'),
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username || 'postgres'),
    password: u.password ? decodeURIComponent(u.password) : undefined,
    database: decodeURIComponent(u.pathname.replace(/^\//, '') || 'postgres'),
    schema,
    embedded: false,
    ssl: ssl === 'require' || ssl === 'verify-full',
  };
}

/** How long opening a connection may take. */
const CONNECT_TIMEOUT_S = 10;

/** A postgres.js client for `target`. */
export function connect(target: DbTarget, options: { max?: number } = {}): Sql {
  return postgres({
    host: target.host,
    port: target.port,
    user: target.user,
    password: target.password,
    database: target.database,
    ssl: target.ssl ? 'require' : false,
    max: options.max ?? (target.embedded ? 2 : 10),
    idle_timeout: 30,
    connect_timeout: CONNECT_TIMEOUT_S,
    // postgres.js takes a socket factory; its type declarations leave the option out.
    ...{ socket: () => openSocket(target.host, target.port, CONNECT_TIMEOUT_S * 1000) },
    onnotice: () => {},
    connection: {
      application_name: 'warden',
      ...(target.schema ? { search_path: target.schema } : {}),
    },
    // ids and counts are int8; they stay far below 2^53, so hand them out as numbers
    types: {
      bigint: {
        to: 20,
        from: [20],
        serialize: (x: number | bigint) => x.toString(),
        parse: (x: string) => Number(x),
      },
    },
    transform: { undefined: null },
  });
}

/**
 * A TCP connection with Nagle's algorithm off. postgres.js's own socket leaves it on, so a query
 * written while the previous one is still unacknowledged can wait for the server's ACK; Warden's
 * round trips are small and latency-bound (a Slack acknowledgement waits on two of them).
 * postgres.js still does the TLS upgrade on this socket when `ssl` is set.
 */
function openSocket(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    // A host that is a directory is PostgreSQL's Unix socket directory (no Nagle there).
    const socket = host.startsWith('/')
      ? net.connect({ path: `${host.replace(/\/$/, '')}/.s.PGSQL.${port}` })
      : net.connect({ host, port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`could not connect to PostgreSQL at ${host}:${port} within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', reject);
      // postgres.js names the TLS server (SNI) from these when it upgrades the socket for `ssl`.
      Object.assign(socket, { host, port });
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** A node-postgres pool for `target` (agenda's backend and node-pg-migrate speak pg). */
export function pgPool(target: DbTarget, max = 2): pg.Pool {
  return new pg.Pool({
    host: target.host,
    port: target.port,
    user: target.user,
    password: target.password,
    database: target.database,
    ssl: target.ssl ? { rejectUnauthorized: true } : undefined,
    max,
    application_name: 'warden-jobs',
    ...(target.schema ? { options: `-c search_path=${target.schema}` } : {}),
  });
}

/**
 * Run `fn` in a transaction. Inside it, use only the `tx` handle (PGlite is a single session).
 *
 * The connection is reserved before BEGIN is written, not by postgres.js's sql.begin(): in 3.4.9
 * sql.begin() can write BEGIN on a connection whose pipeline it just filled without reserving it
 * (porsager/postgres#1189, #1210), and the pool then runs unrelated queries inside the open
 * transaction. reserve() only ever takes an idle connection, so nothing else is on it.
 */
export async function withTx<T>(sql: Sql, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const tx = await sql.reserve();
  try {
    await tx`begin`;
    openTransactions.add(tx);
    let result: T;
    try {
      result = await fn(tx);
    } catch (error) {
      // An aborted or broken connection can refuse the rollback too; the first error is the one to tell.
      await tx`rollback`.catch(() => undefined);
      throw error;
    }
    await tx`commit`;
    return result;
  } finally {
    openTransactions.delete(tx);
    tx.release();
  }
}

const openTransactions = new WeakSet<Tx>();

/**
 * True while `tx` is inside withTx's transaction: what it locks stays locked until `fn` returns.
 * The trail uses it to keep the audit head it locked for the rest of the transaction.
 */
export function inTransaction(tx: Queryable): tx is Tx {
  return openTransactions.has(tx as Tx);
}
