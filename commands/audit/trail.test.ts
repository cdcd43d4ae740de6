import { describe, expect, it } from 'vitest';
import type { Notification } from '../../bot/chat/model.js';
import { ticketOrderingKey } from '../../integrations/tickets/outbox.js';
import { createFakeClock } from '../../lib/clock.js';
import { withTx } from '../../storage/db.js';
import { useTestDatabase } from '../../test/db.js';
import {
  type AuditEvent,
  eventHash,
  GENESIS_HASH,
  recordEvent,
  subjectOrderingKey,
  type TrailDeps,
} from './trail.js';
import { verifyChain } from './verify.js';

const db = useTestDatabase('audit-trail');
const clock = createFakeClock('2026-05-04T07:30:00.123Z');
const deps: TrailDeps = { clock, chatPlatforms: ['console', 'slack'] };

async function storedEvent(seq: number): Promise<AuditEvent> {
  const [row] = await db.current.sql<AuditEvent[]>`
    select seq, at, actor, action, subject_type as "subjectType", subject_id as "subjectId",
      project_id as "projectId", data, request_id as "requestId", prev_hash as "prevHash", hash
    from audit_events where seq = ${seq}`;
  return row!;
}

describe('recordEvent', () => {
  it('appends an event chained to the previous one and moves the head to it', async () => {
    const first = await withTx(db.current.sql, (tx) =>
      recordEvent(tx, deps, { actor: 'user:alice', action: 'server.created', data: { name: 'web-01' } }),
    );
    clock.advance(1_000);
    const second = await withTx(db.current.sql, (tx) =>
      recordEvent(tx, deps, {
        actor: 'user:bob',
        action: 'access.approved',
        subject: { type: 'access-request', id: '12' },
        projectId: 3,
        requestId: 'req-9',
      }),
    );
    expect(first).toMatchObject({ seq: 1, prevHash: GENESIS_HASH, subjectType: null, projectId: null });
    expect(second).toMatchObject({
      seq: 2,
      prevHash: first.hash,
      subjectType: 'access-request',
      subjectId: '12',
    });
    expect(await storedEvent(2)).toEqual(second);
    expect(second.at).toEqual(clock.now());
    const [head] = await db.current.sql`select seq, hash from audit_head`;
    expect(head).toEqual({ seq: 2, hash: second.hash });
  });

  it('fans each notification out to every chat platform, keyed for order and idempotency', async () => {
    const subject = { type: 'patch-run', id: '77' };
    const notifications: Notification[] = [
      { kind: 'subject-message', subject, projectId: 1, reply: { visibility: 'public', text: 'plan' } },
      { kind: 'direct', userId: 4, reply: { visibility: 'private', text: 'you are up' } },
    ];
    const event = await withTx(db.current.sql, (tx) =>
      recordEvent(tx, deps, { actor: 'job:patch', action: 'patch.planned', subject }, notifications, [
        {
          channel: 'jira',
          kind: 'ticket.open',
          payload: { summary: 'patch run 77' },
          orderingKey: 'jira:77',
        },
      ]),
    );
    const rows = await db.current.sql`
      select channel, kind, payload, idempotency_key, ordering_key, audit_seq, status, next_attempt_at
      from outbox where audit_seq = ${event.seq} order by id`;
    expect(rows.map((r) => [r.channel, r.kind, r.idempotency_key, r.ordering_key])).toEqual([
      ['console', 'subject-message', `audit:${event.seq}:0:console`, subjectOrderingKey('console', subject)],
      ['slack', 'subject-message', `audit:${event.seq}:0:slack`, 'slack:patch-run:77'],
      ['console', 'direct', `audit:${event.seq}:1:console`, null],
      ['slack', 'direct', `audit:${event.seq}:1:slack`, null],
      ['jira', 'ticket.open', `audit:${event.seq}:x0:jira`, 'jira:77'],
    ]);
    expect(rows[0]!.payload).toEqual(notifications[0]);
    expect(
      rows.every((r) => r.status === 'pending' && r.next_attempt_at.getTime() === event.at.getTime()),
    ).toBe(true);
  });

  it('leaves neither the event nor its outbox rows when the transaction rolls back', async () => {
    const before = await verifyChain(db.current.sql);
    const [{ n: outboxBefore }] = await db.current.sql<
      { n: number }[]
    >`select count(*)::int as n from outbox`;
    await expect(
      withTx(db.current.sql, async (tx) => {
        await recordEvent(tx, deps, { actor: 'user:alice', action: 'server.deleted' }, [
          { kind: 'channel-post', projectId: null, reply: { visibility: 'public', text: 'gone' } },
        ]);
        throw new Error('the change itself failed');
      }),
    ).rejects.toThrow('the change itself failed');
    expect(await verifyChain(db.current.sql)).toEqual(before);
    const [{ n: outboxAfter }] = await db.current.sql<{ n: number }[]>`select count(*)::int as n from outbox`;
    expect(outboxAfter).toBe(outboxBefore);
  });

  it('stores awkward data so that it still hashes the same when read back', async () => {
    const data = {
      zeta: 1,
      alpha: { nested: [3, 'two', null, { b: true, a: false }] },
      shell: '; rm -rf / $(reboot) `id` && echo "x"\n\ttab',
      unicode: 'Zoë 🚀 \u202e مرحبا 日本',
      numbers: [0.1 + 0.2, 1e21, 1e-7, -0, 2 ** 53 - 1, -42.5],
      when: new Date('2026-01-02T03:04:05.678Z'),
      dropped: undefined,
      empty: {},
    };
    const event = await withTx(db.current.sql, (tx) =>
      recordEvent(tx, deps, { actor: 'user:zoë', action: 'test.awkward', data, requestId: 'req\n"quoted"' }),
    );
    const stored = await storedEvent(event.seq);
    expect(stored.data).toEqual(event.data);
    expect(stored.data.when).toBe('2026-01-02T03:04:05.678Z');
    expect('dropped' in stored.data).toBe(false);
    expect(eventHash(stored.prevHash, stored)).toBe(stored.hash);
    expect(await verifyChain(db.current.sql)).toMatchObject({ ok: true, headSeq: event.seq });
  });

  it('chains several events of one transaction, and transactions that race never fork the chain', async () => {
    const subject = { type: 'approval', id: '501' };
    const record = (tx: Parameters<typeof recordEvent>[0], action: string, withRows: boolean) =>
      recordEvent(
        tx,
        deps,
        { actor: 'user:bob', action, subject },
        withRows
          ? [{ kind: 'thread-reply', subject, projectId: 1, reply: { visibility: 'public', text: action } }]
          : [],
      );
    const run = (tag: string) =>
      withTx(db.current.sql, async (tx) => {
        const a = await record(tx, `${tag}.one`, false);
        const b = await record(tx, `${tag}.two`, true);
        const c = await record(tx, `${tag}.three`, false);
        return [a, b, c];
      });
    const [left, right] = await Promise.all([run('left'), run('right')]);
    for (const events of [left, right]) {
      expect(events.map((e) => e.seq)).toEqual([events[0]!.seq, events[0]!.seq + 1, events[0]!.seq + 2]);
      expect(events[1]!.prevHash).toBe(events[0]!.hash);
      expect(events[2]!.prevHash).toBe(events[1]!.hash);
      const rows = await db.current.sql<{ idempotency_key: string }[]>`
        select idempotency_key from outbox where audit_seq = ${events[1]!.seq} order by id`;
      expect(rows.map((r) => r.idempotency_key)).toEqual([
        `audit:${events[1]!.seq}:0:console`,
        `audit:${events[1]!.seq}:0:slack`,
      ]);
    }
    // One transaction ran after the other, whatever the interleaving of their statements.
    const [first, second] = left[0]!.seq < right[0]!.seq ? [left, right] : [right, left];
    expect(second[0]!.prevHash).toBe(first[2]!.hash);
    expect((await verifyChain(db.current.sql)).ok).toBe(true);
    const [head] = await db.current.sql`select seq, hash from audit_head`;
    expect(head).toEqual({ seq: second[2]!.seq, hash: second[2]!.hash });
  });

  it('tells a ticket opened by an earlier event of the same transaction about the later ones', async () => {
    const subject = { type: 'patch-run', id: '88' };
    const events = await withTx(db.current.sql, async (tx) => {
      const opened = await recordEvent(
        tx,
        deps,
        { actor: 'user:alice', action: 'patch.planned', subject },
        [],
        [
          {
            channel: 'ticket',
            kind: 'ticket.open',
            payload: { subject, kind: 'change', summary: 'patch run 88', description: '' },
            orderingKey: ticketOrderingKey(subject),
          },
        ],
      );
      const approved = await recordEvent(tx, deps, { actor: 'user:bob', action: 'patch.approved', subject });
      return [opened, approved];
    });
    const rows = await db.current.sql<{ kind: string; audit_seq: number; idempotency_key: string }[]>`
      select kind, audit_seq, idempotency_key from outbox
      where channel = 'ticket' and audit_seq = any(${events.map((e) => e.seq)}) order by id`;
    expect(rows.map((r) => [r.kind, r.audit_seq])).toEqual([
      ['ticket.open', events[0]!.seq],
      ['ticket.comment', events[1]!.seq],
    ]);
    expect(rows[1]!.idempotency_key).toBe(`audit:${events[1]!.seq}:x0:ticket`);
  });

  it('refuses data Postgres cannot store, and writes nothing', async () => {
    const before = await verifyChain(db.current.sql);
    await expect(
      withTx(db.current.sql, (tx) =>
        recordEvent(tx, deps, { actor: 'user:alice', action: 'test.nul', data: { text: 'a\u0000b' } }),
      ),
    ).rejects.toThrow();
    expect(await verifyChain(db.current.sql)).toEqual(before);
  });
});
