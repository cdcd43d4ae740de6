import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createScanLimiter } from '../../commands/scanning/limiter.js';
import { parseOsReleaseAndAptList } from '../../integrations/os/index.js';
import {
  createSshConnectionPool,
  createSshTarget,
  hostKeyFingerprint,
} from '../../integrations/targets/index.js';

/**
 * Warden's SSH fleet scan, alone in its process, the way the scanning core runs it: the shared
 * SSH connection pool and the ScanLimiter at F concurrent scans, one ssh target per simulated
 * host (host001..hostN, all 127.0.0.1:2222), each a fresh TCP connection and login with the
 * host key pinned, one exec of the baseline's remote command, its output parsed, the target
 * closed. The database is not in this path (see store.ts for that part).
 *
 * Prints one JSON line: { n, f, ok, failures, wallMs, maxRssKb, kinds }.
 *
 *   node scan.mjs --n 200 --f 50
 */
const { values: opts } = parseArgs({
  options: {
    n: { type: 'string', default: '200' },
    f: { type: 'string', default: '50' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '2222' },
    user: { type: 'string', default: 'patchbot' },
    dir: { type: 'string', default: '/tmp/perf-ssh' },
    command: { type: 'string', default: '/tmp/perf-ssh/bin/fake-apt-scan' },
    expect: { type: 'string', default: '40' },
  },
});
const N = Number(opts.n);
const F = Number(opts.f);
const EXPECT = Number(opts.expect);

/** The pin, taken from the baseline's known_hosts line for [host]:port, as Warden stores it. */
function pinnedFingerprint(file: string, host: string, port: string): string {
  const wanted = port === '22' ? host : `[${host}]:${port}`;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [hosts, , blob] = line.trim().split(/\s+/);
    if (hosts?.split(',').includes(wanted) && blob) return hostKeyFingerprint(Buffer.from(blob, 'base64'));
  }
  throw new Error(`${file} has no key for ${wanted}; run ../shared/bench/ssh-scan/setup.sh`);
}

async function main(): Promise<void> {
  const started = performance.now();
  const privateKey = readFileSync(`${opts.dir}/id_ed25519`, 'utf8');
  const hostKey = pinnedFingerprint(`${opts.dir}/known_hosts`, opts.host, opts.port);
  const pool = createSshConnectionPool({ maxConnections: F, maxChannelsPerHost: 4 });
  const limiter = createScanLimiter({ global: F, perProvider: { ssh: F } });
  const kinds = new Map<string, number>();
  let ok = 0;

  async function scanOne(i: number): Promise<void> {
    const name = `host${String(i).padStart(3, '0')}`;
    const target = createSshTarget(
      { host: opts.host, port: Number(opts.port), user: opts.user, privateKey, hostKey, name },
      { pool },
    );
    try {
      const result = await target.exec([opts.command]);
      const parsed = parseOsReleaseAndAptList(result.stdout);
      const good =
        result.exitCode === 0 &&
        parsed.findings.length === EXPECT &&
        parsed.os.family === 'debian' &&
        !parsed.problems.some((p) => p.severity === 'error');
      if (good) ok++;
      else kinds.set('incomplete', (kinds.get('incomplete') ?? 0) + 1);
    } catch (error) {
      const kind = (error as { details?: { kind?: string } }).details?.kind ?? 'error';
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    } finally {
      // As scanServer does: the scan is over, so is the host's connection.
      await target.close();
    }
  }

  await Promise.all(Array.from({ length: N }, (_, i) => limiter.run('ssh', () => scanOne(i + 1))));
  pool.close();
  const wallMs = performance.now() - started;
  console.log(
    JSON.stringify({
      n: N,
      f: F,
      ok,
      failures: N - ok,
      kinds: Object.fromEntries(kinds),
      wallMs: Math.round(wallMs),
      maxRssKb: process.resourceUsage().maxRSS,
    }),
  );
}

await main();
