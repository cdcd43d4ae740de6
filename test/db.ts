import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { connect, type DbTarget, type Sql, targetFromUrl } from '../storage/db.js';
import { type EmbeddedDatabase, startEmbedded } from '../storage/embedded.js';
import { migrate } from '../storage/migrate.js';

/**
 * A fresh, migrated database for one test file: a new schema in the real PostgreSQL named by
 * TEST_DATABASE_URL, or a PGlite cloned from the migrated template otherwise. A schema whose
 * tests failed is kept (its name is printed) so the state can be inspected.
 */
export interface TestDatabase {
  sql: Sql;
  target: DbTarget;
  kind: 'postgres' | 'pglite';
  /** Open another client on the same database (a second "replica"). */
  connectAgain(max?: number): Sql;
  close(): Promise<void>;
}

export async function createTestDatabase(label = 'test'): Promise<TestDatabase> {
  const url = process.env.TEST_DATABASE_URL;
  if (url) {
    const schema = `t_${label
      .replace(/[^a-z0-9]/gi, '_')
      .toLowerCase()
      .slice(0, 30)}_${Math.random().toString(36).slice(2, 8)}`;
    const target = targetFromUrl(url, schema);
    await migrate(target);
    const sql = connect(target, { max: 10 });
    const extra: Sql[] = [];
    return {
      sql,
      target,
      kind: 'postgres',
      connectAgain(max = 10) {
        const s = connect(target, { max });
        extra.push(s);
        return s;
      },
      async close() {
        await Promise.all([sql.end({ timeout: 5 }), ...extra.map((s) => s.end({ timeout: 5 }))]);
      },
    };
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'wd-'));
  let embedded: EmbeddedDatabase;
  const templatePath = process.env.WARDEN_TEST_PGLITE_TEMPLATE;
  if (templatePath) {
    const blob = new Blob([readFileSync(templatePath)]);
    embedded = await startEmbedded({ dataDir: dir, inMemory: true, loadDataDir: blob });
  } else {
    embedded = await startEmbedded({ dataDir: dir, inMemory: true });
    await migrate(embedded.target);
  }
  const sql = connect(embedded.target, { max: 2 });
  const extra: Sql[] = [];
  return {
    sql,
    target: embedded.target,
    kind: 'pglite',
    connectAgain(max = 2) {
      const s = connect(embedded.target, { max });
      extra.push(s);
      return s;
    },
    async close() {
      await Promise.all([sql.end({ timeout: 5 }), ...extra.map((s) => s.end({ timeout: 5 }))]);
      await embedded.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Register hooks that give the test file one database; read `.current` inside tests. */
export function useTestDatabase(label?: string): { readonly current: TestDatabase } {
  let db: TestDatabase | undefined;
  let failed = false;
  beforeAll(async () => {
    db = await createTestDatabase(label);
  });
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') failed = true;
  });
  afterAll(async () => {
    if (!db) return;
    if (failed && db.target.schema) {
      console.warn(`test database kept for inspection: schema ${db.target.schema}`);
    }
    const schema = db.target.schema;
    const url = process.env.TEST_DATABASE_URL;
    await db.close();
    if (!failed && schema && url) {
      const admin = connect(targetFromUrl(url), { max: 1 });
      await admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    }
  });
  return {
    get current() {
      if (!db) throw new Error('the test database is only available inside tests (beforeAll has not run)');
      return db;
    },
  };
}
