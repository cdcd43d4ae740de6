import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SubjectRef } from '../../bot/chat/model.js';
import { recordEvent } from '../../commands/audit/trail.js';
import { createOutboxWorker, exponentialBackoff, type OutboxWorker } from '../../jobs/outbox-worker.js';
import { createFakeClock } from '../../lib/clock.js';
import { silentLogger } from '../../lib/logger.js';
import { withTx } from '../../storage/db.js';
import { claimDueOutbox, getOutboxItem } from '../../storage/outbox.js';
import { getTicketLink } from '../../storage/tickets.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { createTicketDeliverer } from './deliver.js';
import { linkTicket, openChangeRequest, type TicketEvent, ticketOutboxFor } from './subjects.js';
import { startHarness, type TicketHarness, VARIANTS } from './testing.js';

const db = useTestDatabase('tickets-lifecycle');
const MINUTE = 60_000;

/** A comment as a person reads it: without Warden's marker line. */
function plain(comment: string): string {
  return comment.replace(/\n\n\[warden:[^\]]+\]$/, '');
}

describe.each(VARIANTS)('ticket delivery through the outbox, %s', (variant) => {
  const clock = createFakeClock('2026-03-02T10:00:00Z');
  let h: TicketHarness;
  let deps: TestDeps;
  let worker: OutboxWorker;
  let n = 0;

  const sql = () => db.current.sql;
  const deliverer = () => createTicketDeliverer({ sql: sql(), tickets: h.tickets, clock });
  const subject = (type: string): SubjectRef => ({ type, id: `${variant}-${++n}` });

  async function tell(s: SubjectRef, event: TicketEvent): Promise<void> {
    await withTx(sql(), async (tx) => {
      const writes = await ticketOutboxFor(tx, s, event);
      expect(writes).toHaveLength(1);
      await recordEvent(
        tx,
        deps,
        { actor: event.actor, action: event.action, subject: s, data: event.data },
        [],
        writes,
      );
    });
  }

  async function linkExisting(s: SubjectRef): Promise<string> {
    const key = h.seed('open');
    await withTx(sql(), (tx) =>
      linkTicket(tx, deps, {
        subject: s,
        ticket: { system: h.tickets.name, key, url: 'https://t/x' },
        actor: 'user:alice',
      }),
    );
    return key;
  }

  /** Drain, then move the fake clock to the next retry, until nothing is pending (no sleeping). */
  async function drainUntilDone(maxRounds = 40): Promise<number> {
    for (let round = 1; round <= maxRounds; round++) {
      await worker.drainOnce();
      const [left] = await sql()<{ n: number; at: Date | null }[]>`
        select count(*)::int as n, min(next_attempt_at) filter (where next_attempt_at > ${clock.now()}) as at
        from outbox where status = 'pending' and channel = 'ticket'`;
      if (!left?.n) return round;
      // Items behind a failed one wait on its ordering key: the next thing due is its retry.
      if (left.at) clock.set(left.at);
    }
    const left =
      await sql()`select id, attempts, next_attempt_at, last_error, status from outbox where channel = 'ticket'`;
    throw new Error(
      `the outbox still had ticket items after ${maxRounds} rounds: ${JSON.stringify(left)} now=${clock.now().toISOString()}`,
    );
  }

  beforeAll(async () => {
    h = await startHarness(variant, clock);
  });
  beforeEach(async () => {
    await sql()`delete from outbox`;
    deps = createTestDeps(sql(), { clock, chatPlatforms: [], tickets: h.tickets });
    worker = createOutboxWorker({
      sql: sql(),
      clock,
      log: silentLogger(),
      deliverers: { ticket: deliverer() },
      backoff: exponentialBackoff({ baseMs: 5_000, random: () => 0 }),
    });
  });
  afterEach(async () => {
    await worker.stop();
    h.server.verify();
  });
  afterAll(() => h.stop());

  it('lives a change request’s whole life: opened, approved, started, done, a comment at each step and the report', async () => {
    const plan = subject('patch-plan');
    const description =
      'web-01: openssl 3.0.11 → 3.0.13 (CVE-2024-0727)\nwindow: Sat 02:00–04:00 UTC\nreboot: yes';
    const queued = await withTx(sql(), (tx) =>
      openChangeRequest(tx, deps, {
        subject: plan,
        summary: 'Patch 3 servers in prod',
        description,
        actor: 'user:carol',
      }),
    );
    expect(queued).toEqual({ queued: true });
    // A second ask while the first is on its way changes nothing.
    expect(
      await withTx(sql(), (tx) =>
        openChangeRequest(tx, deps, { subject: plan, summary: 'again', description }),
      ),
    ).toEqual({
      queued: false,
    });
    await tell(plan, {
      actor: 'user:bob',
      action: 'plan.approved',
      text: 'Approved by bob',
      transition: 'approved',
    });
    await tell(plan, {
      actor: 'job:patch',
      action: 'plan.started',
      text: 'Patching started',
      transition: 'in-progress',
    });
    await tell(plan, {
      actor: 'job:patch',
      action: 'server.patched',
      data: { server: 'web-01', packages: 2 },
    });
    await tell(plan, {
      actor: 'job:patch',
      action: 'plan.succeeded',
      text: 'Report: 3 of 3 servers patched, 0 failed, 1 rebooted',
      transition: 'done',
    });
    await drainUntilDone();

    const link = await getTicketLink(sql(), plan);
    expect(link).toMatchObject({ system: h.tickets.name, subjectType: 'patch-plan' });
    const key = link!.key;
    expect(h.history(key)).toEqual(h.wholeLife);
    expect(h.status(key)).toBe(h.doneStatus);
    expect(h.comments(key).map(plain)).toEqual([
      'Approved by bob',
      'Patching started',
      'Warden: server.patched by job:patch\nserver: web-01\npackages: 2',
      'Report: 3 of 3 servers patched, 0 failed, 1 rebooted',
    ]);
    expect((await h.tickets.get(key))?.open).toBe(false);
    const trail = await sql()<{ action: string; data: Record<string, unknown> }[]>`
      select action, data from audit_events where subject_type = 'patch-plan' and subject_id = ${plan.id} order by seq`;
    expect(trail.map((e) => e.action)).toEqual([
      'ticket.requested',
      'plan.approved',
      'plan.started',
      'server.patched',
      'plan.succeeded',
      'ticket.linked',
    ]);
    expect(trail.at(-1)?.data).toMatchObject({ system: h.tickets.name, key, kind: 'change' });
  });

  it('delivers comments written during a 10-minute outage once each, in order, after it ends', async () => {
    const request = subject('access-request');
    const key = await linkExisting(request);
    const outageEnds = new Date(clock.now().getTime() + 10 * MINUTE);
    h.outage(outageEnds);
    const texts = ['granted web-01 for 2h', 'extended by 1h', 'expired', 'key removed from web-01', 'closed'];
    for (const text of texts) await tell(request, { actor: 'system', action: 'access.note', text });

    const rounds = await drainUntilDone();
    expect(rounds).toBeGreaterThan(5);
    expect(h.comments(key).map(plain)).toEqual(texts);
    const refused = h.server.requests.filter((r) => r.response?.status === 503);
    expect(refused.length).toBeGreaterThanOrEqual(5);
    const rows = await sql()<{ attempts: number; deliveredAt: Date }[]>`
      select attempts, delivered_at as "deliveredAt" from outbox where channel = 'ticket' order by id`;
    expect(rows).toHaveLength(5);
    expect(rows[0]!.attempts).toBeGreaterThan(5);
    for (const row of rows) expect(row.deliveredAt.getTime()).toBeGreaterThanOrEqual(outageEnds.getTime());
  });

  it('does not post a comment twice when the worker died after the ticket system took it', async () => {
    const request = subject('access-request');
    const key = await linkExisting(request);
    await tell(request, { actor: 'system', action: 'access.note', text: 'exactly once, please' });
    const [item] = await claimDueOutbox(sql(), {
      now: clock.now(),
      leaseMs: MINUTE,
      limit: 1,
      channels: ['ticket'],
    });
    await deliverer().deliver(item!); // the ticket system has it; the "crash" leaves the row unmarked
    expect(h.comments(key)).toHaveLength(1);

    clock.advance(MINUTE + 1_000);
    expect(await worker.drainOnce()).toEqual({ delivered: 1, failed: 0, dead: 0 });
    expect(h.comments(key).map(plain)).toEqual(['exactly once, please']);
    expect((await getOutboxItem(sql(), item!.id))?.result).toMatchObject({ key, duplicate: true });
  });

  it('does not move a ticket twice when the worker died after the transition landed', async () => {
    const request = subject('patch-plan');
    const key = await linkExisting(request);
    await tell(request, {
      actor: 'user:bob',
      action: 'plan.approved',
      text: 'Approved',
      transition: 'approved',
    });
    const [item] = await claimDueOutbox(sql(), {
      now: clock.now(),
      leaseMs: MINUTE,
      limit: 1,
      channels: ['ticket'],
    });
    await deliverer().deliver(item!);
    const history = [...h.history(key)];
    clock.advance(MINUTE + 1_000);
    expect(await worker.drainOnce()).toEqual({ delivered: 1, failed: 0, dead: 0 });
    expect(h.history(key)).toEqual(history);
    expect(h.comments(key)).toHaveLength(1);
  });

  it('finds the ticket it opened when the worker died before storing its key', async () => {
    const plan = subject('patch-plan');
    await withTx(sql(), (tx) =>
      openChangeRequest(tx, deps, { subject: plan, summary: 'Patch db-01', description: 'plan' }),
    );
    const [item] = await claimDueOutbox(sql(), {
      now: clock.now(),
      leaseMs: MINUTE,
      limit: 1,
      channels: ['ticket'],
    });
    const opened = await h.tickets.open({
      kind: 'change',
      summary: 'Patch db-01',
      description: 'plan',
      idempotencyKey: item!.idempotencyKey,
    });
    const count = h.keys().length;
    clock.advance(MINUTE + 1_000);
    expect(await worker.drainOnce()).toEqual({ delivered: 1, failed: 0, dead: 0 });
    expect(h.keys().length).toBe(count);
    expect((await getTicketLink(sql(), plan))?.key).toBe(opened.key);
  });

  it('waits as long as a 429’s Retry-After asks before trying again', async () => {
    const request = subject('access-request');
    const key = await linkExisting(request);
    h.server.rateLimitNext(() => true, { retryAfterSeconds: 120 });
    await tell(request, { actor: 'system', action: 'access.note', text: 'after the limit' });
    const started = clock.now().getTime();
    expect(await worker.drainOnce()).toEqual({ delivered: 0, failed: 1, dead: 0 });
    const [row] = await sql()<{ id: number }[]>`select id from outbox where channel = 'ticket'`;
    expect((await getOutboxItem(sql(), row!.id))?.nextAttemptAt.getTime()).toBe(started + 120_000);

    clock.advance(119_000);
    const calls = h.server.requests.length;
    expect(await worker.drainOnce()).toEqual({ delivered: 0, failed: 0, dead: 0 });
    expect(h.server.requests.length).toBe(calls);
    clock.advance(1_000);
    expect(await worker.drainOnce()).toEqual({ delivered: 1, failed: 0, dead: 0 });
    expect(h.comments(key).map(plain)).toEqual(['after the limit']);
  });

  it('dead-letters a comment for a subject whose ticket never opened, and says why', async () => {
    const orphan = subject('patch-plan');
    await withTx(sql(), (tx) =>
      recordEvent(
        tx,
        deps,
        { actor: 'system', action: 'test.orphan' },
        [],
        [
          {
            channel: 'ticket',
            kind: 'ticket.comment',
            payload: { subject: orphan, text: 'lost?' },
            orderingKey: null,
          },
        ],
      ),
    );
    expect(await worker.drainOnce()).toEqual({ delivered: 0, failed: 0, dead: 1 });
    const [row] = await sql()<
      { lastError: string }[]
    >`select last_error as "lastError" from outbox where channel = 'ticket'`;
    expect(row?.lastError).toMatch(/has no (Jira|ServiceNow) ticket/);
  });

  it('writes nothing for a subject that has no ticket', async () => {
    const none = subject('patch-plan');
    expect(await withTx(sql(), (tx) => ticketOutboxFor(tx, none, { actor: 'system', action: 'x' }))).toEqual(
      [],
    );
  });
});
