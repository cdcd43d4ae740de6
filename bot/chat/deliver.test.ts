import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { recordEvent } from '../../commands/audit/trail.js';
import {
  createOutboxWorker,
  exponentialBackoff,
  type OutboxWorkerOptions,
} from '../../jobs/outbox-worker.js';
import { createFakeClock } from '../../lib/clock.js';
import { IntegrationError } from '../../lib/errors.js';
import { createLogger } from '../../lib/logger.js';
import { withTx } from '../../storage/db.js';
import { claimDueOutbox, getOutboxItem } from '../../storage/outbox.js';
import { useTestDatabase } from '../../test/db.js';
import { createChatDeliverer } from './deliver.js';
import type { Notification, Reply } from './model.js';
import type { ChatPlatform } from './platform.js';

const db = useTestDatabase('chat-deliver');
const clock = createFakeClock('2026-04-01T10:00:00Z');

interface FakeMessage {
  id: string;
  channel: string;
  thread?: string;
  reply: Reply;
  idempotencyKey: string;
  updates: Reply[];
}

type Failure = { when: 'before' | 'after'; error: Error };

/**
 * An in-memory chat platform. Strict: updating or replying to a message it never posted, or
 * posting to a channel it does not have, is a violation that fails the test. Like Slack's
 * client_msg_id, it can drop a post whose idempotency key it has already seen.
 */
function createFakeChat(options: { dedupe?: boolean; channels?: string[] } = {}) {
  const channels = new Set(options.channels ?? ['ops', 'ops-security', 'lobby']);
  const messages: FakeMessage[] = [];
  const directs: { userId: number; reply: Reply; idempotencyKey: string }[] = [];
  const calls: string[] = [];
  const violations: string[] = [];
  const failures: Failure[] = [];
  const byKey = new Map<string, FakeMessage>();
  let next = 1;

  function strict(ok: boolean, problem: string): void {
    if (!ok) {
      violations.push(problem);
      throw new Error(`fake chat: ${problem}`);
    }
  }
  async function send(call: string, create: () => FakeMessage | undefined): Promise<FakeMessage | undefined> {
    calls.push(call);
    const failure = failures.shift();
    if (failure?.when === 'before') throw failure.error;
    const m = create();
    if (failure) throw failure.error;
    return m;
  }
  function newMessage(channel: string, reply: Reply, idempotencyKey: string, thread?: string): FakeMessage {
    const seen = options.dedupe ? byKey.get(idempotencyKey) : undefined;
    if (seen) return seen;
    const m: FakeMessage = {
      id: `m${next++}`,
      channel,
      reply,
      idempotencyKey,
      updates: [],
      ...(thread ? { thread } : {}),
    };
    messages.push(m);
    byKey.set(idempotencyKey, m);
    return m;
  }
  const find = (channel: string, id: string) => messages.find((m) => m.id === id && m.channel === channel);

  const platform: ChatPlatform = {
    name: 'console',
    async post(channel, reply, { idempotencyKey }) {
      const m = await send('post', () => {
        strict(channels.has(channel), `post to unknown channel ${channel}`);
        return newMessage(channel, reply, idempotencyKey);
      });
      return { messageId: m!.id };
    },
    async update(channel, messageId, reply) {
      await send('update', () => {
        const m = find(channel, messageId);
        strict(m !== undefined, `update of unknown message ${channel}/${messageId}`);
        m!.updates.push(reply);
        return m;
      });
    },
    async replyInThread(channel, messageId, reply, { idempotencyKey }) {
      const m = await send('replyInThread', () => {
        strict(find(channel, messageId) !== undefined, `reply under unknown message ${channel}/${messageId}`);
        return newMessage(channel, reply, idempotencyKey, messageId);
      });
      return { messageId: m!.id };
    },
    async direct(userId, reply, { idempotencyKey }) {
      await send('direct', () => {
        directs.push({ userId, reply, idempotencyKey });
        return undefined;
      });
    },
    channelFor(project, role) {
      if (!project) return 'lobby';
      return (role && project.channels[`console:${role}`]) || project.channels.console;
    },
  };
  return {
    platform,
    messages,
    directs,
    calls,
    violations,
    fail(times: number, error: Error, when: Failure['when'] = 'before') {
      for (let i = 0; i < times; i++) failures.push({ when, error });
    },
  };
}

let chat = createFakeChat();
let logLines: string[] = [];
let projectId = 0;
let quietProjectId = 0;

function worker(overrides: Partial<OutboxWorkerOptions> = {}) {
  const sql = db.current.sql;
  return createOutboxWorker({
    sql,
    clock,
    log: createLogger('debug', { write: (line: string) => void logLines.push(line) }),
    deliverers: { console: createChatDeliverer({ sql, platform: chat.platform, clock }) },
    backoff: exponentialBackoff({ baseMs: 1_000, maxMs: 60_000, random: () => 1 }),
    ...overrides,
  });
}

async function notify(...notifications: Notification[]) {
  return withTx(db.current.sql, (tx) =>
    recordEvent(
      tx,
      { clock, chatPlatforms: ['console'] },
      { actor: 'user:alice', action: 'test.notify' },
      notifications,
    ),
  );
}

async function outboxRows() {
  return db.current.sql<{ id: number; kind: string; status: string; attempts: number; result: unknown }[]>`
    select id, kind, status, attempts, result from outbox order by id`;
}

const text = (t: string): Reply => ({ visibility: 'public', text: t });
const subject = { type: 'access-request', id: '41' };

beforeAll(async () => {
  const [p] = await db.current.sql<{ id: number }[]>`
    insert into projects (slug, name, channels)
    values ('payments', 'Payments', ${db.current.sql.json({ console: 'ops', 'console:security': 'ops-security' })})
    returning id`;
  const [q] = await db.current.sql<{ id: number }[]>`
    insert into projects (slug, name) values ('quiet', 'Quiet') returning id`;
  projectId = p!.id;
  quietProjectId = q!.id;
});

beforeEach(async () => {
  chat = createFakeChat({ dedupe: true });
  logLines = [];
  await db.current.sql`delete from outbox`;
  await db.current.sql`delete from message_refs`;
});

afterEach(() => {
  expect(chat.violations).toEqual([]);
});

describe('chat deliverer', () => {
  it('posts a subject message to the project channel, then updates it in place', async () => {
    const w = worker();
    await notify({ kind: 'subject-message', subject, projectId, reply: text('alice asks for web-01') });
    expect(await w.drainOnce()).toEqual({ delivered: 1, failed: 0, dead: 0 });
    await notify({ kind: 'subject-message', subject, projectId, reply: text('approved by bob') });
    expect(await w.drainOnce()).toEqual({ delivered: 1, failed: 0, dead: 0 });

    expect(chat.messages).toHaveLength(1);
    expect(chat.messages[0]).toMatchObject({ channel: 'ops', reply: text('alice asks for web-01') });
    expect(chat.messages[0]!.updates).toEqual([text('approved by bob')]);
    const refs = await db.current.sql`select channel, message_id from message_refs`;
    expect(refs).toEqual([{ channel: 'ops', message_id: chat.messages[0]!.id }]);
    expect((await outboxRows()).map((r) => r.result)).toEqual([
      { posted: 'm1', channel: 'ops' },
      { updated: 'm1', channel: 'ops' },
    ]);
  });

  it('replies in the subject thread, or in the project channel when the subject has no message', async () => {
    await notify(
      { kind: 'subject-message', subject, projectId, reply: text('request') },
      { kind: 'thread-reply', subject, projectId, reply: text('reminder') },
      { kind: 'thread-reply', subject: { type: 'patch-run', id: '9' }, projectId, reply: text('orphan') },
    );
    await worker().drainOnce();
    const request = chat.messages.find((m) => m.reply.text === 'request')!;
    // Unrelated subjects go out side by side, so only each message's place is checked, not their order.
    const byText = [...chat.messages].sort((a, b) => a.reply.text!.localeCompare(b.reply.text!));
    expect(byText.map((m) => [m.channel, m.thread, m.reply.text])).toEqual([
      ['ops', undefined, 'orphan'],
      ['ops', request.id, 'reminder'],
      ['ops', undefined, 'request'],
    ]);
  });

  it('posts to the channel a role names, and sends direct messages', async () => {
    await notify(
      { kind: 'channel-post', projectId, reply: text('CVE digest'), channelRole: 'security' },
      { kind: 'channel-post', projectId: null, reply: text('fleet digest') },
      { kind: 'direct', userId: 7, reply: text('your access expires in 10 minutes') },
    );
    expect(await worker().drainOnce()).toEqual({ delivered: 3, failed: 0, dead: 0 });
    expect(chat.messages.map((m) => [m.channel, m.reply.text]).sort()).toEqual([
      ['lobby', 'fleet digest'],
      ['ops-security', 'CVE digest'],
    ]);
    expect(chat.directs).toMatchObject([{ userId: 7, reply: text('your access expires in 10 minutes') }]);
    expect(chat.directs[0]!.idempotencyKey).toMatch(/^audit:\d+:2:console$/);
  });

  it('marks an item skipped, not retried, when the project has no channel on the platform', async () => {
    await notify(
      { kind: 'subject-message', subject, projectId: quietProjectId, reply: text('request') },
      { kind: 'channel-post', projectId: 999_999, reply: text('gone project') },
    );
    expect(await worker().drainOnce()).toEqual({ delivered: 2, failed: 0, dead: 0 });
    expect(chat.calls).toEqual(['post']);
    expect(chat.messages.map((m) => m.channel)).toEqual(['lobby']);
    const rows = await outboxRows();
    expect(rows[0]).toMatchObject({ status: 'delivered', result: { skipped: 'no channel' } });
  });

  it('sends hostile text exactly as written', async () => {
    const hostile = '; rm -rf / $(reboot) `id`\n\u202eevil 🚀 <script>alert(1)</script>';
    await notify({ kind: 'channel-post', projectId, reply: text(hostile) });
    await worker().drainOnce();
    expect(chat.messages[0]!.reply.text).toBe(hostile);
  });

  it('dead-letters at once a payload that is not a chat notification', async () => {
    await db.current.sql`
      insert into outbox (channel, kind, payload, idempotency_key, next_attempt_at)
      values ('console', 'subject-message', ${db.current.sql.json({ kind: 'subject-message', reply: 'nope' })},
              'bad-1', ${clock.now()})`;
    expect(await worker().drainOnce()).toEqual({ delivered: 0, failed: 0, dead: 1 });
    expect(chat.calls).toEqual([]);
  });
});

describe('chat delivery through the outbox worker', () => {
  it('sends exactly one message to a destination that fails three times, twice after accepting it', async () => {
    const w = worker();
    chat.fail(1, new IntegrationError('console', 'connection refused'), 'before');
    chat.fail(2, new IntegrationError('console', 'response timed out'), 'after');
    await notify({ kind: 'subject-message', subject, projectId, reply: text('request') });

    expect(await w.drainOnce()).toEqual({ delivered: 0, failed: 1, dead: 0 });
    expect(await w.drainOnce()).toEqual({ delivered: 0, failed: 0, dead: 0 });
    for (const _ of [1, 2]) {
      clock.advance(60_000);
      expect(await w.drainOnce()).toEqual({ delivered: 0, failed: 1, dead: 0 });
    }
    clock.advance(60_000);
    expect(await w.drainOnce()).toEqual({ delivered: 1, failed: 0, dead: 0 });

    expect(chat.calls).toEqual(['post', 'post', 'post', 'post']);
    expect(chat.messages).toHaveLength(1);
    expect(await outboxRows()).toMatchObject([{ status: 'delivered', attempts: 4 }]);
  });

  it('holds a thread reply until its subject has been posted', async () => {
    const w = worker();
    chat.fail(2, new IntegrationError('console', 'service unavailable'));
    await notify({ kind: 'subject-message', subject, projectId, reply: text('request') });
    await notify({ kind: 'thread-reply', subject, projectId, reply: text('approved') });

    expect(await w.drainOnce()).toEqual({ delivered: 0, failed: 1, dead: 0 });
    clock.advance(60_000);
    expect(await w.drainOnce()).toEqual({ delivered: 0, failed: 1, dead: 0 });
    expect(chat.calls).toEqual(['post', 'post']);
    clock.advance(60_000);
    expect(await w.drainOnce()).toEqual({ delivered: 2, failed: 0, dead: 0 });

    expect(chat.calls).toEqual(['post', 'post', 'post', 'replyInThread']);
    expect(chat.messages.map((m) => [m.reply.text, m.thread])).toEqual([
      ['request', undefined],
      ['approved', 'm1'],
    ]);
  });

  it('does not duplicate a message re-sent after a worker crashed between sending and marking', async () => {
    await notify({ kind: 'subject-message', subject, projectId, reply: text('request') });
    // A first worker claims the item and gets it onto the platform, then dies before saving anything.
    const [claimed] = await claimDueOutbox(db.current.sql, {
      now: clock.now(),
      leaseMs: 30_000,
      limit: 10,
      channels: ['console'],
    });
    await chat.platform.post('ops', text('request'), { idempotencyKey: claimed!.idempotencyKey });

    const w = worker({ leaseMs: 30_000 });
    expect(await w.drainOnce()).toEqual({ delivered: 0, failed: 0, dead: 0 });
    clock.advance(30_001);
    expect(await w.drainOnce()).toEqual({ delivered: 1, failed: 0, dead: 0 });

    expect(chat.calls).toEqual(['post', 'post']);
    expect(chat.messages).toHaveLength(1);
    const refs = await db.current.sql`select message_id from message_refs`;
    expect(refs).toEqual([{ message_id: chat.messages[0]!.id }]);
    expect(await getOutboxItem(db.current.sql, claimed!.id)).toMatchObject({
      status: 'delivered',
      attempts: 2,
    });
  });

  it('waits at least as long as a 429 asks before trying again', async () => {
    const w = worker();
    chat.fail(1, new IntegrationError('console', 'rate limited', { retryAfter: 120 }));
    const event = await notify({ kind: 'channel-post', projectId, reply: text('digest') });

    expect(await w.drainOnce()).toEqual({ delivered: 0, failed: 1, dead: 0 });
    const [row] = await outboxRows();
    const item = await getOutboxItem(db.current.sql, row!.id);
    expect(item!.nextAttemptAt.getTime() - event.at.getTime()).toBe(120_000);
    clock.advance(119_999);
    expect(await w.drainOnce()).toEqual({ delivered: 0, failed: 0, dead: 0 });
    clock.advance(1);
    expect(await w.drainOnce()).toEqual({ delivered: 1, failed: 0, dead: 0 });
    expect(chat.messages).toHaveLength(1);
  });

  it('dead-letters after the last attempt, logs it without the message, and lets the thread go on', async () => {
    const w = worker({ maxAttempts: 3 });
    chat.fail(3, new IntegrationError('console', 'channel_is_archived'));
    await notify({ kind: 'subject-message', subject, projectId, reply: text('password is hunter2') });
    await notify({ kind: 'thread-reply', subject, projectId, reply: text('follow-up') });

    const totals = { delivered: 0, failed: 0, dead: 0 };
    for (let i = 0; i < 3; i++) {
      const r = await w.drainOnce();
      totals.delivered += r.delivered;
      totals.failed += r.failed;
      totals.dead += r.dead;
      clock.advance(60_000);
    }
    expect(totals).toEqual({ delivered: 1, failed: 2, dead: 1 });
    expect(await outboxRows()).toMatchObject([
      { kind: 'subject-message', status: 'dead', attempts: 3 },
      { kind: 'thread-reply', status: 'delivered' },
    ]);
    // The subject never got a message, so the reply went to the channel rather than nowhere.
    expect(chat.messages.map((m) => [m.reply.text, m.thread])).toEqual([['follow-up', undefined]]);
    const dead = logLines.map((l) => JSON.parse(l)).filter((l) => l.msg.includes('dead-lettered'));
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ level: 50, channel: 'console', kind: 'subject-message', attempt: 3 });
    expect(logLines.join('\n')).not.toContain('hunter2');
  });
});
