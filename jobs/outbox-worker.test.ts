import { beforeEach, describe, expect, it } from 'vitest';
import { type OutboxWrite, recordEvent } from '../commands/audit/trail.js';
import { createFakeClock } from '../lib/clock.js';
import { AppError, IntegrationError } from '../lib/errors.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { type Sql, withTx } from '../storage/db.js';
import { claimDueOutbox, getOutboxItem, type OutboxItem } from '../storage/outbox.js';
import { useTestDatabase } from '../test/db.js';
import { createTestDeps } from '../test/deps.js';
import { outboxDrainJob } from './outbox-drain.js';
import {
  createOutboxWorker,
  type Deliverer,
  exponentialBackoff,
  type OutboxWorkerOptions,
} from './outbox-worker.js';

const db = useTestDatabase('outbox-worker');
const clock = createFakeClock('2026-02-02T12:00:00Z');
let logLines: Record<string, unknown>[] = [];

function captureLog(): Logger {
  return createLogger('debug', { write: (line: string) => void logLines.push(JSON.parse(line)) });
}

/** A deliverer that records what it was given and answers from a script of outcomes. */
function recorder(
  script: (item: OutboxItem, n: number) => ReturnType<Deliverer['deliver']> = async () => {},
) {
  const seen: OutboxItem[] = [];
  const deliverer: Deliverer = {
    async deliver(item) {
      seen.push(item);
      return script(item, seen.length);
    },
  };
  return { deliverer, seen };
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function enqueue(...writes: OutboxWrite[]) {
  return withTx(db.current.sql, (tx) =>
    recordEvent(tx, { clock, chatPlatforms: [] }, { actor: 'system', action: 'test.enqueue' }, [], writes),
  );
}

function worker(deliverers: OutboxWorkerOptions['deliverers'], overrides: Partial<OutboxWorkerOptions> = {}) {
  return createOutboxWorker({
    sql: db.current.sql,
    clock,
    log: captureLog(),
    deliverers,
    backoff: exponentialBackoff({ baseMs: 1_000, random: () => 0 }),
    ...overrides,
  });
}

beforeEach(async () => {
  logLines = [];
  await db.current.sql`delete from outbox`;
});

describe('outbox worker', () => {
  it('hands each item its idempotency key and keeps what the deliverer returns', async () => {
    const jira = recorder(async (item) => ({ ticket: `OPS-${item.id}` }));
    const event = await enqueue({ channel: 'jira', kind: 'ticket.comment', payload: { body: 'scan done' } });
    expect(await worker({ jira: jira.deliverer }).drainOnce()).toEqual({ delivered: 1, failed: 0, dead: 0 });

    expect(jira.seen).toMatchObject([
      {
        channel: 'jira',
        kind: 'ticket.comment',
        payload: { body: 'scan done' },
        auditSeq: event.seq,
        attempts: 1,
      },
    ]);
    expect(jira.seen[0]!.idempotencyKey).toBe(`audit:${event.seq}:x0:jira`);
    const row = await getOutboxItem(db.current.sql, jira.seen[0]!.id);
    expect(row).toMatchObject({
      status: 'delivered',
      result: { ticket: `OPS-${row!.id}` },
      lockedUntil: null,
    });
    expect(row!.deliveredAt).toEqual(clock.now());
  });

  it('leaves items of a channel with no deliverer pending, and says so once', async () => {
    await enqueue({ channel: 'webhook', kind: 'scan.finished', payload: { a: 1 } });
    await enqueue({ channel: 'webhook', kind: 'scan.finished', payload: { a: 2 } });
    const w = worker({ jira: recorder().deliverer });
    expect(await w.drainOnce()).toEqual({ delivered: 0, failed: 0, dead: 0 });
    expect(await w.drainOnce()).toEqual({ delivered: 0, failed: 0, dead: 0 });

    const rows = await db.current.sql`select status, attempts, locked_until from outbox`;
    expect(rows).toEqual([
      { status: 'pending', attempts: 0, locked_until: null },
      { status: 'pending', attempts: 0, locked_until: null },
    ]);
    const warnings = logLines.filter((l) => String(l.msg).includes("channel 'webhook'"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, channel: 'webhook', pending: 2 });
  });

  it('delivers the items of one ordering key one at a time, in order, across rounds', async () => {
    const order: string[] = [];
    const jira = recorder(async (item) => {
      order.push(String(item.payload.step));
    });
    for (const step of ['open', 'comment', 'close']) {
      await enqueue({ channel: 'jira', kind: 'ticket', payload: { step }, orderingKey: 'jira:patch-run:7' });
    }
    await enqueue({
      channel: 'jira',
      kind: 'ticket',
      payload: { step: 'other' },
      orderingKey: 'jira:patch-run:8',
    });
    const claimed = await claimDueOutbox(db.current.sql, {
      now: clock.now(),
      leaseMs: 1_000,
      limit: 10,
      channels: ['jira'],
    });
    expect(claimed.map((i) => i.payload.step)).toEqual(['open', 'other']);
    clock.advance(1_001);

    expect(await worker({ jira: jira.deliverer }).drainOnce()).toEqual({ delivered: 4, failed: 0, dead: 0 });
    expect(order.filter((s) => s !== 'other')).toEqual(['open', 'comment', 'close']);
  });

  it('retries with growing delays and dead-letters after the last attempt, without logging the payload', async () => {
    const jira = recorder(async () => {
      throw new IntegrationError('jira', 'Jira answered 502 Bad Gateway');
    });
    await enqueue({ channel: 'jira', kind: 'ticket', payload: { token: 'tok-hunter2', note: 'hunter2' } });
    const w = worker({ jira: jira.deliverer }, { maxAttempts: 4 });

    const delays: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      expect(await w.drainOnce()).toEqual({ delivered: 0, failed: 1, dead: 0 });
      const row = await getOutboxItem(db.current.sql, jira.seen[0]!.id);
      expect(row).toMatchObject({
        status: 'pending',
        attempts: attempt,
        lastError: expect.stringContaining('502'),
      });
      delays.push(row!.nextAttemptAt.getTime() - clock.now().getTime());
      clock.set(row!.nextAttemptAt);
    }
    expect(delays).toEqual([500, 1_000, 2_000]);
    expect(await w.drainOnce()).toEqual({ delivered: 0, failed: 0, dead: 1 });
    expect(await getOutboxItem(db.current.sql, jira.seen[0]!.id)).toMatchObject({
      status: 'dead',
      attempts: 4,
    });
    clock.advance(24 * 3600_000);
    expect(await w.drainOnce()).toEqual({ delivered: 0, failed: 0, dead: 0 });
    expect(jira.seen).toHaveLength(4);

    const errors = logLines.filter((l) => l.level === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      channel: 'jira',
      error: 'IntegrationError: Jira answered 502 Bad Gateway',
    });
    expect(JSON.stringify(logLines)).not.toContain('hunter2');
  });

  it('dead-letters at once an item its deliverer calls malformed', async () => {
    const jira = recorder(async () => {
      throw new AppError('bad_request', 'the ticket payload has no project key');
    });
    await enqueue({ channel: 'jira', kind: 'ticket', payload: {} });
    expect(await worker({ jira: jira.deliverer }).drainOnce()).toEqual({ delivered: 0, failed: 0, dead: 1 });
  });

  it('re-sends with the same key an item whose worker died, but only once its lease ran out', async () => {
    const jira = recorder();
    await enqueue({ channel: 'jira', kind: 'ticket', payload: {} });
    const [lost] = await claimDueOutbox(db.current.sql, {
      now: clock.now(),
      leaseMs: 45_000,
      limit: 1,
      channels: ['jira'],
    });
    const w = worker({ jira: jira.deliverer }, { leaseMs: 45_000 });
    clock.advance(45_000);
    expect(await w.drainOnce()).toEqual({ delivered: 0, failed: 0, dead: 0 });
    clock.advance(1);
    expect(await w.drainOnce()).toEqual({ delivered: 1, failed: 0, dead: 0 });
    expect(jira.seen).toMatchObject([{ id: lost!.id, idempotencyKey: lost!.idempotencyKey, attempts: 2 }]);
  });

  it('never hands the same item to two replicas draining at once', async () => {
    for (let i = 0; i < 30; i++) {
      await enqueue({
        channel: 'jira',
        kind: 'ticket',
        payload: { i },
        orderingKey: i % 3 === 0 ? 'k' : null,
      });
    }
    const counts = new Map<string, number>();
    const count = async (item: OutboxItem) => {
      counts.set(item.idempotencyKey, (counts.get(item.idempotencyKey) ?? 0) + 1);
    };
    const replica = (sql: Sql) =>
      worker({ jira: recorder(count).deliverer }, { sql, batchSize: 4, log: captureLog() }).drainOnce();
    const results = await Promise.all([
      replica(db.current.connectAgain()),
      replica(db.current.connectAgain()),
      replica(db.current.sql),
    ]);

    expect(results.reduce((n, r) => n + r.delivered, 0)).toBe(30);
    expect(counts.size).toBe(30);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    const [left] = await db.current.sql`select count(*)::int as n from outbox where status <> 'delivered'`;
    expect(left).toEqual({ n: 0 });
  });

  it('honours retryAfter even when the backoff is shorter', async () => {
    const jira = recorder(async () => {
      throw new IntegrationError('jira', 'rate limited', { retryAfter: 30 });
    });
    await enqueue({ channel: 'jira', kind: 'ticket', payload: {} });
    await worker({ jira: jira.deliverer }).drainOnce();
    const row = await getOutboxItem(db.current.sql, jira.seen[0]!.id);
    expect(row!.nextAttemptAt.getTime() - clock.now().getTime()).toBe(30_000);
  });

  it('coalesces many kicks into one drain, and a kick during a drain into one more', async () => {
    const gate = deferred();
    let drains = 0;
    const jira = recorder(() => gate.promise);
    const w = worker({ jira: jira.deliverer }, { onDrain: () => void drains++ });
    await enqueue({ channel: 'jira', kind: 'ticket', payload: {} });
    for (let i = 0; i < 20; i++) w.kick();
    await waitFor(() => jira.seen.length === 1, 'the kicked drain to start delivering');
    for (let i = 0; i < 20; i++) w.kick();
    gate.resolve();
    await waitFor(() => drains === 2, 'the drain and the one more kicked during it');
    await w.stop();
    expect(drains).toBe(2);
    expect(jira.seen).toHaveLength(1);
    w.kick();
    expect(drains).toBe(2);
  });

  it('waits in stop() for a drain in flight', async () => {
    const gate = deferred();
    const jira = recorder(() => gate.promise);
    const w = worker({ jira: jira.deliverer });
    await enqueue({ channel: 'jira', kind: 'ticket', payload: {} });
    const drained = w.drainOnce();
    await waitFor(() => jira.seen.length === 1, 'the delivery to start');
    let stopped = false;
    const stopping = w.stop().then(() => {
      stopped = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(stopped).toBe(false);
    gate.resolve();
    await stopping;
    expect(await drained).toEqual({ delivered: 1, failed: 0, dead: 0 });
    expect(await getOutboxItem(db.current.sql, jira.seen[0]!.id)).toMatchObject({ status: 'delivered' });
  });

  it('polls on its own once started', async () => {
    const jira = recorder();
    const w = worker({ jira: jira.deliverer });
    w.start(20);
    await enqueue({ channel: 'jira', kind: 'ticket', payload: {} });
    await waitFor(() => jira.seen.length === 1, 'the poll to deliver');
    await w.stop();
  });

  it('backs off exponentially with jitter, up to a ceiling', () => {
    const low = exponentialBackoff({ baseMs: 1_000, maxMs: 10_000, random: () => 0 });
    const high = exponentialBackoff({ baseMs: 1_000, maxMs: 10_000, random: () => 1 });
    expect([1, 2, 3, 4, 5, 6].map(low)).toEqual([500, 1_000, 2_000, 4_000, 5_000, 5_000]);
    expect([1, 2, 3, 4, 5, 6].map(high)).toEqual([1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
  });
});

describe('outbox-drain job', () => {
  it('drains the outbox every 10 seconds', async () => {
    const jira = recorder();
    const job = outboxDrainJob(worker({ jira: jira.deliverer }));
    expect(job).toMatchObject({ name: 'outbox-drain', every: '10 seconds' });
    await enqueue({ channel: 'jira', kind: 'ticket', payload: {} });
    await job.run({}, createTestDeps(db.current.sql, { clock }));
    expect(jira.seen).toHaveLength(1);
  });
});
