import { beforeAll, describe, expect, it } from 'vitest';
import { createFakeClock } from '../../lib/clock.js';
import { IntegrationError } from '../../lib/errors.js';
import { getConsoleMessage, listConsoleMessages } from '../../storage/console.js';
import { useTestDatabase } from '../../test/db.js';
import { createConsolePlatform } from './platform.js';
import { seedConsoleWorld } from './testing.js';

const db = useTestDatabase('console_platform');
let aliceId = 0;
let bobId = 0;

beforeAll(async () => {
  ({ aliceId, bobId } = await seedConsoleWorld(db.current.sql));
});

function platform() {
  return createConsolePlatform(db.current.sql, createFakeClock('2026-02-01T10:00:00Z'));
}

describe('console chat platform', () => {
  it('posts a public message stamped with the app clock', async () => {
    const { messageId } = await platform().post(
      'demo',
      { visibility: 'public', text: 'hello' },
      { idempotencyKey: 'p1' },
    );
    const row = await getConsoleMessage(db.current.sql, Number(messageId));
    expect(row).toMatchObject({
      channel: 'demo',
      author: 'warden',
      visibleTo: null,
      body: { text: 'hello' },
    });
    expect(row?.createdAt.toISOString()).toBe('2026-02-01T10:00:00.000Z');
  });

  it('posts once per idempotency key and returns the first message id again', async () => {
    const chat = platform();
    const first = await chat.post('demo', { visibility: 'public', text: 'once' }, { idempotencyKey: 'dup' });
    const second = await chat.post(
      'demo',
      { visibility: 'public', text: 'twice' },
      { idempotencyKey: 'dup' },
    );
    expect(second.messageId).toBe(first.messageId);
    const [row] = await db.current
      .sql`select count(*)::int as n from console_messages where idempotency_key = 'dup'`;
    expect(row).toEqual({ n: 1 });
    expect((await getConsoleMessage(db.current.sql, Number(first.messageId)))?.body.text).toBe('once');
  });

  it('updates a message in place and refuses one from another channel', async () => {
    const chat = platform();
    const { messageId } = await chat.post(
      'demo',
      { visibility: 'public', text: 'pending' },
      { idempotencyKey: 'u1' },
    );
    await chat.update('demo', messageId, { visibility: 'public', text: 'approved by @bob' });
    expect((await getConsoleMessage(db.current.sql, Number(messageId)))?.body.text).toBe('approved by @bob');
    await expect(
      chat.update('general', messageId, { visibility: 'public', text: 'x' }),
    ).rejects.toBeInstanceOf(IntegrationError);
    await expect(
      chat.update('demo', 'not-an-id', { visibility: 'public', text: 'x' }),
    ).rejects.toBeInstanceOf(IntegrationError);
  });

  it('replies in the thread of a message, and a reply to a reply joins the same thread', async () => {
    const chat = platform();
    const { messageId: root } = await chat.post(
      'demo',
      { visibility: 'public', text: 'root' },
      { idempotencyKey: 't0' },
    );
    const { messageId: first } = await chat.replyInThread(
      'demo',
      root,
      { visibility: 'public', text: 'first' },
      { idempotencyKey: 't1' },
    );
    const { messageId: second } = await chat.replyInThread(
      'demo',
      first,
      { visibility: 'public', text: 'second' },
      { idempotencyKey: 't2' },
    );
    const again = await chat.replyInThread(
      'demo',
      root,
      { visibility: 'public', text: 'x' },
      { idempotencyKey: 't1' },
    );
    expect(again.messageId).toBe(first);
    expect((await getConsoleMessage(db.current.sql, Number(first)))?.threadId).toBe(Number(root));
    expect((await getConsoleMessage(db.current.sql, Number(second)))?.threadId).toBe(Number(root));
    await expect(
      chat.replyInThread('general', root, { visibility: 'public', text: 'x' }, { idempotencyKey: 't3' }),
    ).rejects.toBeInstanceOf(IntegrationError);
  });

  it('sends a direct message as a private message in general, visible only to its recipient', async () => {
    const chat = platform();
    await chat.direct(
      aliceId,
      { visibility: 'public', text: 'your access expires soon' },
      { idempotencyKey: 'dm1' },
    );
    await chat.direct(aliceId, { visibility: 'public', text: 'repeat' }, { idempotencyKey: 'dm1' });
    const forAlice = await listConsoleMessages(db.current.sql, { channel: 'general', viewerId: aliceId });
    expect(forAlice.map((m) => m.body.text)).toEqual(['your access expires soon']);
    expect(forAlice[0]).toMatchObject({ visibleTo: aliceId, body: { visibility: 'private' } });
    expect(await listConsoleMessages(db.current.sql, { channel: 'general', viewerId: bobId })).toEqual([]);
  });

  it("picks a project's console channel, else its slug, else general", () => {
    const chat = platform();
    expect(chat.channelFor({ slug: 'demo', channels: { console: 'ops-room' } })).toBe('ops-room');
    expect(chat.channelFor({ slug: 'quiet', channels: { slack: 'C1' } })).toBe('quiet');
    expect(chat.channelFor(null)).toBe('general');
  });

  it('stores hostile text as given, minus the characters Postgres cannot hold', async () => {
    const text = '<img src=x onerror=alert(1)> $(reboot) ; rm -rf / \u202E \u0000 end';
    const { messageId } = await platform().post(
      'demo',
      { visibility: 'public', text },
      { idempotencyKey: 'h1' },
    );
    expect((await getConsoleMessage(db.current.sql, Number(messageId)))?.body.text).toBe(
      text.replace('\u0000', '\uFFFD'),
    );
  });
});
