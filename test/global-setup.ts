import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmbedded } from '../storage/embedded.js';
import { migrate } from '../storage/migrate.js';

/**
 * Without TEST_DATABASE_URL the tests run on PGlite. Booting and migrating a cluster costs a few
 * seconds, so it is done once here and dumped; each test file then starts from the dump.
 */
export default async function setup(): Promise<() => void> {
  if (process.env.TEST_DATABASE_URL) return () => {};
  const dir = mkdtempSync(path.join(tmpdir(), 'warden-tpl-'));
  const embedded = await startEmbedded({ dataDir: dir, inMemory: true });
  try {
    await migrate(embedded.target);
    const dump = await embedded.db.dumpDataDir('gzip');
    const file = path.join(dir, 'template.tar.gz');
    writeFileSync(file, Buffer.from(await dump.arrayBuffer()));
    process.env.WARDEN_TEST_PGLITE_TEMPLATE = file;
  } finally {
    await embedded.close();
  }
  return () => {};
}
