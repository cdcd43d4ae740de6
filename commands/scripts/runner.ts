import type { OutboxItem } from '../../storage/outbox.js';
import type { Deps } from '../deps.js';
import { claimRun, type ExecuteOptions, executeClaimedRun } from './execute.js';

/**
 * The outbox deliverer for channel `sop-run`: a run's start item arrives right after the commit
 * that queued it (or approved it). The claim is awaited, so a database failure retries the item;
 * the fan-out itself goes on in the background, because a run may last far longer than an outbox
 * lease and must not hold up chat messages. A second delivery of the same item finds the run
 * already claimed and does nothing.
 */
export interface ScriptRunner {
  deliverer: { deliver(item: OutboxItem): Promise<Record<string, unknown>> };
  /** Resolves when every run started by this process has ended (shutdown, tests). */
  idle(): Promise<void>;
}

/**
 * @example
 * const runner = createScriptRunner(() => deps);
 * deliverers['sop-run'] = runner.deliverer;
 */
export function createScriptRunner(deps: () => Deps, options: ExecuteOptions = {}): ScriptRunner {
  const running = new Set<Promise<unknown>>();
  return {
    deliverer: {
      async deliver(item) {
        const runId = Number(item.payload.runId);
        if (!Number.isSafeInteger(runId) || runId < 1) return { skipped: 'no run id' };
        const d = deps();
        if (!(await claimRun(d, runId))) return { runId, started: false };
        const p = executeClaimedRun(d, runId, options).catch((error: unknown) => {
          d.log.error(
            { err: error, runId },
            'script run failed unexpectedly; the sweep marks it interrupted',
          );
        });
        running.add(p);
        void p.finally(() => running.delete(p));
        return { runId, started: true };
      },
    },
    async idle() {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
  };
}
