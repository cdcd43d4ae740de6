import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRegistry } from '../../commands/index.js';
import { IntegrationError } from '../../lib/errors.js';
import { markTeamsConversationRemoved } from '../../storage/teams.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps } from '../../test/deps.js';
import { cardOf, cardText } from '../../test/fakes/teams-connector.js';
import { startTeamsHarness, type TeamsHarness } from './testing.js';

const db = useTestDatabase('teams_platform');
let h: TeamsHarness;

beforeAll(async () => {
  const sql = db.current.sql;
  h = await startTeamsHarness(sql, createTestDeps(sql, { chatPlatforms: ['teams'] }), createRegistry());
  const bob = h.newUser('Bob');
  expect((await h.send(h.botAdded(bob, 'channel'))).status).toBe(200);
});

afterEach(() => h.connector.verify());
afterAll(() => h.stop());

const reply = (text: string) => ({ visibility: 'public' as const, text });

describe('Teams chat platform', () => {
  it('posts a card to a channel, once per idempotency key', async () => {
    const chat = h.teams.platform;
    const first = await chat.post(h.channel, reply('hello'), { idempotencyKey: 'p1' });
    const again = await chat.post(h.channel, reply('hello again'), { idempotencyKey: 'p1' });
    expect(again.messageId).toBe(first.messageId);
    expect(
      h.connector.posts(h.channel).filter((p) => cardText(cardOf(p.body)).startsWith('hello')),
    ).toHaveLength(1);
    const request = h.connector.server.requests.at(-1)!;
    expect(request.headers.authorization).toBe(`Bearer ${h.connector.token}`);
  });

  it('updates a message in place with a PUT and replies in its thread', async () => {
    const chat = h.teams.platform;
    const { messageId } = await chat.post(h.channel, reply('pending'), { idempotencyKey: 'p2' });
    await chat.update(h.channel, messageId, reply('approved by bob'));
    expect(h.connector.updates(messageId)).toHaveLength(1);
    expect(cardText(cardOf(h.connector.activity(messageId)!.body))).toBe('approved by bob');
    const r = await chat.replyInThread(h.channel, messageId, reply('in thread'), { idempotencyKey: 'p3' });
    const stored = h.connector.activity(r.messageId)!;
    expect(stored.conversationId).toBe(`${h.channel};messageid=${messageId}`);
    expect(h.connector.replies(messageId).map((a) => a.id)).toEqual([r.messageId]);
    await chat.replyInThread(h.channel, messageId, reply('in thread'), { idempotencyKey: 'p3' });
    expect(h.connector.replies(messageId)).toHaveLength(1);
  });

  it("reaches another channel of a known team through the team's serviceUrl", async () => {
    const other = '19:otherchannel@thread.tacv2';
    h.connector.addConversation(other);
    await h.teams.platform.post(other, reply('to the other channel'), { idempotencyKey: 'p4' });
    expect(h.connector.posts(other)).toHaveLength(1);
  });

  it('names the fix when Warden was never added to a conversation or was removed', async () => {
    await expect(h.teams.platform.post('a:1nobody', reply('x'), { idempotencyKey: 'p5' })).rejects.toThrow(
      /never been added/,
    );
    const removedChat = 'a:1removed';
    await db.current.sql`
      insert into teams_conversations (conversation_id, kind, tenant_id, service_url, reference, created_at, updated_at)
      values (${removedChat}, 'personal', ${h.tenantId}, ${h.connector.serviceUrl}, '{}', now(), now())`;
    await markTeamsConversationRemoved(db.current.sql, { conversationId: removedChat, at: new Date() });
    await expect(h.teams.platform.post(removedChat, reply('x'), { idempotencyKey: 'p6' })).rejects.toThrow(
      /removed/,
    );
  });

  it('turns a refused token into an error that names the settings to check', async () => {
    h.connector.server.failNext(`POST /v3/conversations/${h.channel}/activities`, {
      status: 401,
      body: { error: {} },
    });
    const error = await h.teams.platform
      .post(h.channel, reply('x'), { idempotencyKey: 'p7' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IntegrationError);
    expect((error as Error).message).toContain('TEAMS_APP_PASSWORD');
  });

  it('skips a direct message to a user without a personal chat, and sends one to a user with one', async () => {
    const [u] = await db.current.sql<
      { id: number }[]
    >`insert into users (handle, display_name) values ('dm-user', 'DM') returning id`;
    const before = h.connector.server.requests.length;
    await h.teams.platform.direct(u!.id, reply('no chat yet'), { idempotencyKey: 'd1' });
    expect(h.connector.server.requests.length).toBe(before);
    const carl = h.newUser('Carl');
    await db.current
      .sql`insert into identities (user_id, platform, external_id) values (${u!.id}, 'teams', ${carl.aad})`;
    expect((await h.send(h.botAdded(carl, 'personal'))).status).toBe(200);
    await h.teams.platform.direct(u!.id, reply('your access expires soon'), { idempotencyKey: 'd2' });
    expect(cardText(cardOf(h.connector.posts(h.personalChat(carl)).at(-1)!.body))).toBe(
      'your access expires soon',
    );
  });

  it("picks the project's Teams channel, else the configured default", () => {
    expect(h.teams.platform.channelFor({ slug: 'demo', channels: { teams: '19:x@thread.tacv2' } })).toBe(
      '19:x@thread.tacv2',
    );
    expect(h.teams.platform.channelFor({ slug: 'demo', channels: { slack: 'C1' } })).toBeUndefined();
    expect(h.teams.platform.channelFor(null)).toBeUndefined();
  });

  it('is ready while the token source gives tokens', async () => {
    expect(await h.teams.readiness.teams!()).toBe(true);
  });
});
