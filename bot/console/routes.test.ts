import { Hono } from 'hono';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { createApp } from '../app.js';
import type { AppEnv } from '../http/context.js';
import { createConsoleRoutes } from './routes.js';
import type { ConsoleMessageView } from './service.js';
import { consoleTestRegistry, seedConsoleWorld } from './testing.js';

const db = useTestDatabase('console_routes');
let deps: TestDeps;
let app: Hono<AppEnv>;
let seq = 0;

beforeAll(async () => {
  await seedConsoleWorld(db.current.sql);
  deps = createTestDeps(db.current.sql);
  const other = new Hono().get('/other-route', (c) => c.text('ok'));
  app = createApp({
    deps,
    mounts: [
      { path: '/', app: other },
      { path: '/', app: createConsoleRoutes({ deps, registry: consoleTestRegistry() }) },
    ],
  });
});

function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return app.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function say(as: string, text: string, channel = 'demo'): Promise<ConsoleMessageView[]> {
  const res = await post('/console/api/command', { as, channel, text, requestId: `req-${++seq}-abcdef` });
  expect(res.status).toBe(200);
  return ((await res.json()) as { messages: ConsoleMessageView[] }).messages;
}

async function list(as: string, channel = 'demo', after?: string) {
  const q = new URLSearchParams({ channel, as, ...(after ? { after } : {}) });
  const res = await app.request(`/console/api/messages?${q}`);
  expect(res.status).toBe(200);
  return (await res.json()) as { messages: ConsoleMessageView[]; cursor: string };
}

describe('console page and lists', () => {
  it('serves one self-contained page with a nonce-only script policy', async () => {
    const res = await app.request('/');
    expect(res.status).toBe(200);
    const html = await res.text();
    const csp = res.headers.get('content-security-policy') ?? '';
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    expect(html).toContain(`<script nonce="${nonce}">`);
    expect(html).not.toMatch(/<script[^>]*\bsrc=|<link\b|https?:\/\/(?!www\.w3\.org)/);
    expect(csp).toContain("default-src 'none'");
  });

  it('refuses requests addressed to a host name other than loopback', async () => {
    const res = await app.request('http://evil.example/console/api/users');
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('forbidden');
    expect((await app.request('http://evil.example/')).status).toBe(403);
  });

  it("does not guard the parent app's other routes", async () => {
    const res = await app.request('http://warden.example.com/other-route');
    expect(res.status).toBe(200);
  });

  it('lists users with a console identity and the channels', async () => {
    const users = await (await app.request('/console/api/users')).json();
    expect(users).toEqual({
      users: [
        { handle: 'alice', displayName: 'Alice' },
        { handle: 'bob', displayName: 'Bob' },
      ],
    });
    const channels = await (await app.request('/console/api/channels')).json();
    expect(channels).toEqual({ channels: ['general', 'demo', 'quiet'] });
  });
});

describe('console JSON endpoints', () => {
  it('answers bad JSON with a 400 JSON error', async () => {
    const res = await post('/console/api/command', '{"as": "alice",');
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: { code: 'bad_request', message: 'the body is not valid JSON', requestId: expect.any(String) },
    });
  });

  it('answers a non-JSON content type with 415, so a foreign page cannot post a simple form', async () => {
    const res = await post('/console/api/command', 'as=alice', { 'content-type': 'text/plain' });
    expect(res.status).toBe(415);
  });

  it.each([
    [{ channel: 'demo', text: 'hi' }, 'as'],
    [{ as: 'alice', channel: '../etc', text: 'hi' }, 'channel'],
    [{ as: 'alice', channel: 'demo', text: '' }, 'text'],
    [{ as: '<script>', channel: 'demo', text: 'hi' }, 'as'],
    [[1, 2], ''],
  ])('answers a malformed command body with a 400 naming the field (%#)', async (body, field) => {
    const res = await post('/console/api/command', body);
    expect(res.status).toBe(400);
    const json = (await res.json()) as { error: { code: string; message: string } };
    expect(json.error.code).toBe('bad_request');
    expect(json.error.message.startsWith(field)).toBe(true);
  });

  it('answers a user it does not know with a private explanation and stores nothing', async () => {
    const before = await db.current.sql`select count(*)::int as n from console_messages`;
    const messages = await say('mallory', '/warden help');
    expect(messages).toHaveLength(2);
    expect(messages.every((m) => m.private && m.transient)).toBe(true);
    expect(messages[1]!.body.header).toBe('Warden does not know you yet');
    expect(messages[1]!.body.text).toContain('On console you are mallory');
    expect(messages[1]!.body.text).toContain('@bob');
    const after = await db.current.sql`select count(*)::int as n from console_messages`;
    expect(after).toEqual(before);
  });

  it('keeps a private reply and its command visible only to the user who asked', async () => {
    const [echo, reply] = await say('alice', '/warden help');
    expect(echo).toMatchObject({ author: 'alice', private: true, body: { text: '/warden help' } });
    expect(reply).toMatchObject({ author: 'warden', private: true, body: { header: 'Warden commands' } });
    const ids = (await list('alice')).messages.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining([echo!.id, reply!.id]));
    const bobSees = (await list('bob')).messages.map((m) => m.id);
    expect(bobSees).not.toContain(reply!.id);
    expect(bobSees).not.toContain(echo!.id);
  });

  it('answers a bad command privately, quoting the bad word', async () => {
    const [, reply] = await say('alice', '/warden frobnicate now');
    expect(reply).toMatchObject({ private: true, body: { tone: 'error' } });
    expect(reply!.body.text).toContain('"frobnicate"');
  });

  it('makes the command public with a public reply, and a click replaces the message in place', async () => {
    const [echo, reply] = await say('alice', '/warden test button');
    expect(echo!.private).toBe(false);
    expect(reply!.private).toBe(false);
    const { cursor } = await list('bob');
    const res = await post('/console/api/action', {
      as: 'bob',
      channel: 'demo',
      actionId: 'test.replace',
      value: '42',
      messageId: reply!.id,
    });
    expect(res.status).toBe(200);
    const { messages } = (await res.json()) as { messages: ConsoleMessageView[] };
    expect(messages).toEqual([
      expect.objectContaining({ id: reply!.id, body: expect.objectContaining({ header: 'Done' }) }),
    ]);
    const changed = await list('alice', 'demo', cursor);
    const updated = changed.messages.find((m) => m.id === reply!.id);
    expect(updated?.body.text).toBe('Replaced by @bob (value 42).');
  });

  it('refuses a click on a message that is not in the channel or not visible to the clicker', async () => {
    const [, privateReply] = await say('alice', '/warden help');
    const click = (as: string, channel: string) =>
      post('/console/api/action', {
        as,
        channel,
        actionId: 'test.replace',
        value: '1',
        messageId: privateReply!.id,
      });
    expect((await click('bob', 'demo')).status).toBe(404);
    expect((await click('alice', 'general')).status).toBe(404);
  });

  it('submits a form with its state and replaces the form so it is not sent twice', async () => {
    const [, formMessage] = await say('alice', '/warden test form');
    expect(formMessage!.body.form?.id).toBe('test-form');
    const res = await post('/console/api/form', {
      as: 'alice',
      channel: 'demo',
      formId: 'test-form',
      values: { name: 'web-01' },
      state: 'opaque-state',
      messageId: formMessage!.id,
    });
    expect(res.status).toBe(200);
    const { messages } = (await res.json()) as { messages: ConsoleMessageView[] };
    expect(messages[0]).toMatchObject({ id: formMessage!.id, body: { text: 'Sent: Name a server.' } });
    expect(messages[1]).toMatchObject({
      private: true,
      body: { text: 'Got web-01 with state opaque-state.' },
    });
  });

  it.each([
    ['/warden scan web\u000001'],
    ['/warden scan \u202Eevil'],
    ['/warden "unbalanced'],
    [`/warden ${'x'.repeat(10_000)}`],
    ['/warden ; rm -rf / $(reboot) `id`'],
  ])('answers hostile command text with a private error and keeps serving (%#)', async (text) => {
    const [echo, reply] = await say('alice', text);
    expect(echo!.private).toBe(true);
    expect(reply).toMatchObject({ private: true, body: { tone: 'error' } });
    expect((await app.request('/console/api/users')).status).toBe(200);
  });

  it('posts a line without /warden as an ordinary public message', async () => {
    const [message] = await say('alice', 'morning all <3');
    expect(message).toMatchObject({ author: 'alice', private: false, body: { text: 'morning all <3' } });
    expect((await list('bob')).messages.map((m) => m.id)).toContain(message!.id);
  });

  it('answers a retried command (same requestId) without running it twice', async () => {
    const body = { as: 'alice', channel: 'demo', text: '/warden test button', requestId: 'retry-0001' };
    const first = (
      (await (await post('/console/api/command', body)).json()) as { messages: ConsoleMessageView[] }
    ).messages;
    const second = (
      (await (await post('/console/api/command', body)).json()) as { messages: ConsoleMessageView[] }
    ).messages;
    expect(second.map((m) => m.id)).toEqual(first.map((m) => m.id));
    const [row] = await db.current
      .sql`select count(*)::int as n from interactions where dedupe_key = 'retry-0001'`;
    expect(row).toEqual({ n: 1 });
  });

  it('refuses a poll with a malformed cursor', async () => {
    const res = await app.request('/console/api/messages?channel=demo&as=alice&after=yesterday');
    expect(res.status).toBe(400);
  });
});
