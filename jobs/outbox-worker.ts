import type { Clock } from '../lib/clock.js';
import { AppError, IntegrationError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Sql } from '../storage/db.js';
import {
  claimDueOutbox,
  markOutboxDead,
  markOutboxDelivered,
  markOutboxFailed,
  type OutboxItem,
  unhandledOutboxChannels,
} from '../storage/outbox.js';

/**
 * Sends what the trail put in the outbox. Delivery is at least once: an item is claimed under a
 * lease, sent, then marked; a crash in between lets the lease run out and the item is sent again
 * with the same idempotency key, which the destination uses to drop the duplicate.
 */
export interface Deliverer {
  /** Send one item; what it returns is kept on the row (message ids). Throw to retry later. */
  // biome-ignore lint/suspicious/noConfusingVoidType: a deliverer with nothing to keep just returns
  deliver(item: OutboxItem): Promise<Record<string, unknown> | void>;
}

/** Milliseconds to wait before the next attempt, given how many attempts have failed so far. */
export type Backoff = (failedAttempts: number) => number;

export interface OutboxWorkerOptions {
  sql: Sql;
  clock: Clock;
  log: Logger;
  /** One deliverer per outbox channel; items of other channels are left pending for another process. */
  deliverers: Partial<Record<string, Deliverer>>;
  /** How long a claim holds an item; a delivery must finish well inside it. Default 60 s. */
  leaseMs?: number;
  /** After this many failed attempts the item is dead-lettered. Default 12. */
  maxAttempts?: number;
  /** Items claimed per round. Default 20. */
  batchSize?: number;
  backoff?: Backoff;
  /** Called after every drain with its counts (metrics, tests). */
  onDrain?: (result: DrainResult) => void;
}

export interface DrainResult {
  delivered: number;
  failed: number;
  dead: number;
}

export interface OutboxWorker {
  /** Deliver everything due now, round after round, until nothing due is left. */
  drainOnce(): Promise<DrainResult>;
  /** Ask for a drain soon; many kicks while one is pending or running cost one more drain. */
  kick(): void;
  /** Also drain every `pollMs`, for items written by other replicas and retries coming due. */
  start(pollMs: number): void;
  /** Stop polling and wait for a drain in flight to finish. */
  stop(): Promise<void>;
}

/**
 * Exponential backoff with jitter: about `baseMs`, then twice that each failure, capped at `maxMs`.
 * Half the delay is random so replicas that failed together do not retry together.
 */
export function exponentialBackoff(
  options: { baseMs?: number; maxMs?: number; random?: () => number } = {},
): Backoff {
  const { baseMs = 5_000, maxMs = 60 * 60_000, random = Math.random } = options;
  return (failedAttempts) => {
    const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, failedAttempts - 1));
    return Math.round(ceiling / 2 + (random() * ceiling) / 2);
  };
}

/** What goes on the row and in the log: the error's message only, never the payload. */
function errorText(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.slice(0, 2_000);
}

/** A payload that can never be delivered (bad shape) is not worth retrying. */
function isPermanent(error: unknown): boolean {
  return error instanceof AppError && error.code === 'bad_request';
}

/**
 * @example
 * const worker = createOutboxWorker({ sql, clock, log, deliverers: { console: consoleDeliverer } });
 * worker.start(5_000);
 * const deps = { ...base, kickOutbox: () => worker.kick() };
 */
export function createOutboxWorker(options: OutboxWorkerOptions): OutboxWorker {
  const { sql, clock, log, deliverers } = options;
  const leaseMs = options.leaseMs ?? 60_000;
  const maxAttempts = options.maxAttempts ?? 12;
  const batchSize = options.batchSize ?? 20;
  const backoff = options.backoff ?? exponentialBackoff();
  const channels = Object.keys(deliverers).filter((c) => deliverers[c] !== undefined);
  const reportedUnhandled = new Set<string>();
  const inflight = new Set<Promise<unknown>>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let kickScheduled = false;
  let kickedDrain: Promise<unknown> | undefined;
  let kickedAgain = false;

  async function deliverOne(item: OutboxItem, result: DrainResult): Promise<void> {
    const context = { outboxId: item.id, channel: item.channel, kind: item.kind, attempt: item.attempts };
    const deliverer = deliverers[item.channel]!;
    let outcome: Record<string, unknown>;
    try {
      outcome = (await deliverer.deliver(item)) ?? {};
    } catch (error) {
      const message = errorText(error);
      if (item.attempts >= maxAttempts || isPermanent(error)) {
        await markOutboxDead(sql, item.id, { error: message });
        result.dead++;
        log.error({ ...context, error: message }, 'outbox item dead-lettered: it will not be sent again');
        return;
      }
      const retryAfterMs =
        error instanceof IntegrationError && error.retryAfter ? error.retryAfter * 1000 : 0;
      const delay = Math.max(backoff(item.attempts), retryAfterMs);
      const nextAttemptAt = new Date(clock.now().getTime() + delay);
      await markOutboxFailed(sql, item.id, { error: message, nextAttemptAt });
      result.failed++;
      log.warn({ ...context, error: message, nextAttemptAt }, 'outbox delivery failed; will retry');
      return;
    }
    await markOutboxDelivered(sql, item.id, { at: clock.now(), result: outcome });
    result.delivered++;
  }

  async function reportUnhandled(): Promise<void> {
    for (const { channel, pending } of await unhandledOutboxChannels(sql, channels)) {
      if (reportedUnhandled.has(channel)) continue;
      reportedUnhandled.add(channel);
      log.warn(
        { channel, pending },
        `outbox items for channel '${channel}' wait: no deliverer for it runs here; they are kept until one does`,
      );
    }
  }

  async function drain(): Promise<DrainResult> {
    const result: DrainResult = { delivered: 0, failed: 0, dead: 0 };
    // Each round may free the next item of an ordering key (a reply after its post), so go on
    // until a claim comes back empty. A failed item is not due again before its backoff.
    for (;;) {
      const items = await claimDueOutbox(sql, { now: clock.now(), leaseMs, limit: batchSize, channels });
      if (items.length === 0) break;
      // One claim never holds two items of the same ordering key, so they can go out together.
      await Promise.all(items.map((item) => deliverOne(item, result)));
    }
    await reportUnhandled();
    options.onDrain?.(result);
    return result;
  }

  function track<T>(p: Promise<T>): Promise<T> {
    inflight.add(p);
    void p.finally(() => inflight.delete(p)).catch(() => {});
    return p;
  }

  function runKicked(): void {
    kickedDrain = track(
      (async () => {
        do {
          kickedAgain = false;
          try {
            await drain();
          } catch (error) {
            log.error({ error: errorText(error) }, 'outbox drain failed; the next poll or kick tries again');
          }
        } while (kickedAgain && !stopped);
      })(),
    ).finally(() => {
      kickedDrain = undefined;
    });
  }

  function kick(): void {
    if (stopped) return;
    if (kickedDrain) {
      kickedAgain = true;
      return;
    }
    if (kickScheduled) return;
    kickScheduled = true;
    setImmediate(() => {
      kickScheduled = false;
      if (!stopped) runKicked();
    });
  }

  return {
    drainOnce: () => track(drain()),
    kick,
    start(pollMs) {
      if (timer || stopped) return;
      timer = setInterval(kick, pollMs);
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = undefined;
      while (inflight.size > 0) await Promise.allSettled([...inflight]);
    },
  };
}
