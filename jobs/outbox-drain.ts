import type { OutboxWorker } from './outbox-worker.js';
import type { JobSpec } from './types.js';

/**
 * The safety net under `kickOutbox`: every 10 seconds, one replica drains the outbox, so items
 * written by a replica that died before its kick, and retries coming due, still go out.
 * The worker is built once at start-up (it holds the deliverers), hence a factory.
 */
export function outboxDrainJob(worker: Pick<OutboxWorker, 'drainOnce'>): JobSpec {
  return {
    name: 'outbox-drain',
    every: '10 seconds',
    concurrency: 1,
    // A drain sends one item at a time per ordering key, each well inside the worker's lease.
    lockLifetimeMs: 5 * 60_000,
    async run() {
      await worker.drainOnce();
    },
  };
}
