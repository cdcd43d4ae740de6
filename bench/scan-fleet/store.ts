import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Deps } from '../../commands/deps.js';
import { createScanLimiter } from '../../commands/scanning/limiter.js';
import { runScanBatch } from '../../commands/scanning/run-scan.js';
import { createScanBatch } from '../../commands/scanning/scan.js';
import type { TargetFactory } from '../../commands/scanning/target-factory.js';
import { parseOsReleaseAndAptList } from '../../integrations/os/index.js';
import {
  createSshConnectionPool,
  createSshTarget,
  hostKeyFingerprint,
  type Target,
} from '../../integrations/targets/index.js';
import { systemClock } from '../../lib/clock.js';
import { createVault } from '../../lib/crypto.js';
import { silentLogger } from '../../lib/logger.js';
import { connect, type DbTarget, type Sql, targetFromUrl, withTx } from '../../storage/db.js';
import { startEmbedded } from '../../storage/embedded.js';
import { migrate } from '../../storage/migrate.js';

/**
 * What the hot path (scan.ts) leaves out: writing the findings through storage. N servers are
 * scanned through runScanBatch (the path `/warden scan` takes), the findings written in their
 * transactions with the history, summary rows and trail, on PostgreSQL (DATABASE_URL, a fresh
 * schema) and on the embedded PGlite:
 *
 * - `storage`: each target answers at once with the 40 findings parsed from one real exec, so
 *   the time is the database work alone (first scan: all findings new; rescan: all seen again);
 * - `ssh+storage`: each target is the real ssh target (fresh login per host) running the
 *   baseline's command, so the time is the whole scan as a batch runs it.
 *
 *   node --import tsx bench/scan-fleet/store.ts --n 200 --f 50 [--db postgres|pglite|both]
 */
const { values: opts } = parseArgs({
  options: {
    n: { type: 'string', default: '200' },
    f: { type: 'string', default: '50' },
    db: { type: 'string', default: 'both' },
    dir: { type: 'string', default: '/tmp/perf-ssh' },
    command: { type: 'string', default: '/tmp/perf-ssh/bin/fake-apt-scan' },
  },
});
const N = Number(opts.n);
const F = Number(opts.f);
const PORT = 2222;
const privateKey = readFileSync(`${opts.dir}/id_ed25519`, 'utf8');
const blob = readFileSync(`${opts.dir}/known_hosts`, 'utf8').trim().split(/\s+/)[2]!;
const hostKey = hostKeyFingerprint(Buffer.from(blob, 'base64'));

function refuse(): never {
  throw new Error('the benchmark target only scans');
}

/** A Target whose scan is the baseline's command over `exec`, parsed as Warden parses it. */
function replayTarget(name: string, exec: Target['exec'] | null, stdout: string): Target {
  return {
    provider: 'ssh',
    name,
    exec: exec ?? (async () => refuse()),
    async scan() {
      const text = exec ? (await exec([opts.command])).stdout : stdout;
      const parsed = parseOsReleaseAndAptList(text);
      return {
        os: parsed.os,
        findings: parsed.findings,
        rebootRequired: parsed.rebootRequired,
        problems: parsed.problems,
        method: `ssh: ${parsed.method} (benchmark replay)`,
        scannedAt: systemClock.now(),
      };
    },
    install: async () => refuse(),
    addAuthorizedKey: async () => refuse(),
    removeAuthorizedKey: async () => refuse(),
    close: async () => {},
  };
}

function factory(mode: 'storage' | 'ssh+storage', stdout: string): TargetFactory {
  const pool = createSshConnectionPool({ maxConnections: F });
  return {
    limiter: createScanLimiter({ global: F, perProvider: { ssh: F } }),
    async forServer(server) {
      if (mode === 'storage') return replayTarget(server.name, null, stdout);
      const ssh = createSshTarget(
        { host: '127.0.0.1', port: PORT, user: 'patchbot', privateKey, hostKey, name: server.name },
        { pool },
      );
      return { ...replayTarget(server.name, ssh.exec, stdout), close: () => ssh.close() };
    },
    close: async () => pool.close(),
  };
}

async function seedFleet(sql: Sql): Promise<void> {
  const [project] = await sql<{ id: number }[]>`
    insert into projects (slug, name) values ('bench', 'bench') returning id`;
  const names = Array.from({ length: N }, (_, i) => `host${String(i + 1).padStart(3, '0')}`);
  await sql`
    insert into servers (name, project_id, provider, address, port)
    select unnest(${names}::text[]), ${project!.id}, 'ssh', '127.0.0.1', ${PORT}`;
}

async function timeBatch(deps: Deps, targets: TargetFactory): Promise<{ ms: number; ok: number }> {
  const servers = await deps.sql<{ id: number }[]>`select id from servers order by id`;
  const batch = await withTx(deps.sql, (tx) =>
    createScanBatch(tx, deps, {
      kind: 'project',
      value: 'bench',
      projectId: null,
      servers,
      triggeredBy: 'cli',
      requestedBy: null,
      requestedRef: 'job:bench',
    }),
  );
  const started = performance.now();
  const outcome = await runScanBatch(deps, batch.id, { targets });
  const ms = performance.now() - started;
  return { ms, ok: outcome.outcomes.filter((o) => o.status === 'succeeded').length };
}

async function measure(label: string, target: DbTarget, embedded: boolean, stdout: string): Promise<void> {
  const sql = connect(target);
  const deps: Deps = {
    sql,
    clock: systemClock,
    log: silentLogger(),
    vault: createVault(randomBytes(32).toString('base64')),
    config: { publicUrl: 'http://localhost:3000', embedded, admins: [] },
    chatPlatforms: ['console'],
  };
  try {
    await seedFleet(sql);
    for (const [mode, round] of [
      ['storage', 'first scan'],
      ['storage', 'rescan'],
      ['ssh+storage', 'rescan'],
    ] as const) {
      const targets = factory(mode, stdout);
      const { ms, ok } = await timeBatch(deps, targets);
      await targets.close();
      const [rows] = await sql<{ n: number }[]>`select count(*)::int as n from findings_open`;
      console.log(
        `store db=${label} mode=${mode} round="${round}" N=${N} F=${F} wall_s=${(ms / 1000).toFixed(3)} ` +
          `ok=${ok}/${N} findings_open=${rows!.n} ms_per_server=${(ms / N).toFixed(2)}`,
      );
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function main(): Promise<void> {
  // One real exec gives the bytes every simulated host answers with.
  const probe = createSshTarget({ host: '127.0.0.1', port: PORT, user: 'patchbot', privateKey, hostKey });
  const { stdout } = await probe.exec([opts.command]);
  await probe.close();
  if (opts.db === 'postgres' || opts.db === 'both') {
    const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
    const schema = `bench_scan_fleet_${randomBytes(3).toString('hex')}`;
    const target = targetFromUrl(url, schema);
    await migrate(target);
    try {
      await measure('postgres', target, false, stdout);
    } finally {
      const admin = connect(targetFromUrl(url), { max: 1 });
      await admin.unsafe(`drop schema if exists "${schema}" cascade`);
      await admin.end();
    }
  }
  if (opts.db === 'pglite' || opts.db === 'both') {
    const dir = mkdtempSync(path.join(tmpdir(), 'wd-bench-'));
    const embedded = await startEmbedded({ dataDir: dir, inMemory: true });
    try {
      await migrate(embedded.target);
      await measure('pglite', embedded.target, true, stdout);
    } finally {
      await embedded.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

await main();
