import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import type { DbTarget } from './db.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations', import.meta.url));

interface MigrateLog {
  info(msg: string): void;
}

/**
 * Apply every pending migration. node-pg-migrate holds an advisory lock while it runs, so
 * replicas that start together apply each migration exactly once.
 */
export async function migrate(target: DbTarget, log?: MigrateLog): Promise<string[]> {
  const client = new pg.Client({
    host: target.host,
    port: target.port,
    user: target.user,
    password: target.password,
    database: target.database,
    ssl: target.ssl ? { rejectUnauthorized: true } : undefined,
  });
  await client.connect();
  try {
    const applied = await runner({
      dbClient: client,
      dir: MIGRATIONS_DIR,
      direction: 'up',
      migrationsTable: 'pgmigrations',
      ...(target.schema ? { schema: target.schema, createSchema: true } : {}),
      checkOrder: true,
      log: () => {},
      logger: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
      // PGlite has no other sessions to race with, and its single session makes the lock pointless.
      noLock: target.embedded,
      // Replicas (and parallel test files) that start together wait their turn instead of failing.
      advisoryLockMode: 'wait',
    });
    const names = applied.map((m) => m.name);
    if (names.length > 0) log?.info(`applied migrations: ${names.join(', ')}`);
    return names;
  } finally {
    await client.end();
  }
}
