import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { AppError } from '../lib/errors.js';
import type { DbTarget } from './db.js';
import { createSessionQueue } from './pglite-queue.js';

/**
 * The embedded database: PGlite with its data under `<dataDir>/pglite`, served over a Unix
 * socket so postgres.js, node-pg-migrate and agenda's pg pool all speak to it like Postgres.
 *
 * PGlite has no lock of its own on its directory, so a lockfile keeps a second process out.
 */
export interface EmbeddedDatabase {
  target: DbTarget;
  db: PGlite;
  /** Stop the socket server, close PGlite, release the lock. Safe to call twice. */
  close(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  /** Sum of every pool that will connect (postgres.js + pg + migrations). */
  maxConnections?: number;
  /** Start from this data-dir dump instead of an empty cluster (tests clone a template). */
  loadDataDir?: Blob | File;
  /** Keep nothing on disk (tests). */
  inMemory?: boolean;
}

const SOCKET_PORT = 5432;

/** Take the data directory's lock, or explain who holds it. Returns a release function. */
export function acquireLock(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const lockPath = path.join(dataDir, 'warden.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        rmSync(lockPath, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number.parseInt(readFileSync(lockPath, 'utf8'), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new AppError(
          'conflict',
          `another Warden (pid ${pid}) is already using ${dataDir}; stop it first, or set WARDEN_DATA_DIR to another directory`,
        );
      }
      // The holder died without cleaning up: the lock is stale.
      rmSync(lockPath, { force: true });
    }
  }
  throw new AppError('conflict', `could not lock ${dataDir}; remove ${lockPath} if no Warden is running`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Start PGlite under `dataDir` and serve it on `<dataDir>/run/.s.PGSQL.5432`. */
export async function startEmbedded(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const release = options.inMemory ? () => {} : acquireLock(options.dataDir);
  let db: PGlite | undefined;
  let server: PGLiteSocketServer | undefined;
  try {
    const runDir = path.join(options.dataDir, 'run');
    mkdirSync(runDir, { recursive: true, mode: 0o700 });
    const socketPath = path.join(runDir, `.s.PGSQL.${SOCKET_PORT}`);
    // A socket file left by a crash would make listen() fail with EADDRINUSE.
    if (existsSync(socketPath)) rmSync(socketPath, { force: true });
    const dataPath = options.inMemory ? undefined : path.join(options.dataDir, 'pglite');
    db = await PGlite.create(dataPath, options.loadDataDir ? { loadDataDir: options.loadDataDir } : {});
    server = new PGLiteSocketServer({ db, path: socketPath, maxConnections: options.maxConnections ?? 12 });
    // Swap in the queue that keeps extended-protocol exchanges whole (see pglite-queue.ts).
    (server as unknown as { queryQueue: unknown }).queryQueue = createSessionQueue(db);
    await server.start();
  } catch (error) {
    await server?.stop().catch(() => {});
    await db?.close().catch(() => {});
    release();
    throw error;
  }
  const target: DbTarget = {
    host: path.join(options.dataDir, 'run'),
    port: SOCKET_PORT,
    user: 'postgres',
    database: 'postgres',
    embedded: true,
  };
  let closed = false;
  const liveDb = db;
  const liveServer = server;
  return {
    target,
    db: liveDb,
    async close() {
      if (closed) return;
      closed = true;
      try {
        await liveServer.stop();
        await liveDb.close();
      } finally {
        release();
      }
    },
  };
}
