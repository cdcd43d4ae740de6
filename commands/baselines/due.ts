import { serversDueForBaseline } from '../../storage/baselines.js';
import { getServersByIds } from '../../storage/scans.js';
import type { Deps } from '../deps.js';
import { type BaselineRunOutcome, runBaseline } from './run.js';

/**
 * The baseline after scans: every server whose last successful scan is newer than its last
 * baseline run gets one run, a few servers at a time. A server that cannot be reached records a
 * failed run, so it is not retried until its next successful scan.
 */
export async function runDueBaselines(
  deps: Deps,
  options: { limit?: number; concurrency?: number } = {},
): Promise<BaselineRunOutcome[]> {
  const ids = await serversDueForBaseline(deps.sql, options.limit ?? 200);
  if (ids.length === 0) return [];
  const servers = await getServersByIds(deps.sql, ids);
  const outcomes: BaselineRunOutcome[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < servers.length) {
      const server = servers[next++]!;
      try {
        outcomes.push(await runBaseline(deps, server, { triggeredBy: 'scan' }));
      } catch (error) {
        // Recording failed (database gone): log and go on; the server stays due.
        deps.log.error({ err: error, server: server.name }, 'baseline run could not be recorded');
      }
    }
  };
  // Embedded PGlite is one session: one run (and so one transaction) at a time there.
  const concurrency = deps.config.embedded ? 1 : (options.concurrency ?? 4);
  await Promise.all(Array.from({ length: Math.min(concurrency, servers.length) }, worker));
  return outcomes;
}
