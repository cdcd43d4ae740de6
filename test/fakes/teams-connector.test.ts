import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startTeamsConnector,
  TEAMS_MESSAGE_LIMIT_BYTES,
  type TeamsConnectorFake,
} from './teams-connector.js';

let fake: TeamsConnectorFake;
const C = '19:abc@thread.tacv2';
const card = (text: string) => ({
  type: 'message',
  attachments: [
    {
      contentType: 'application/vnd.microsoft.card.adaptive',
      content: { type: 'AdaptiveCard', version: '1.5', body: [{ type: 'TextBlock', text }] },
    },
  ],
});

beforeAll(async () => {
  fake = await startTeamsConnector();
  fake.addConversation(C);
});
afterAll(() => fake.stop());

function call(method: string, path: string, body?: unknown, token: string | null = fake.token) {
  return fetch(`${fake.server.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

describe('the fake Bot Connector', () => {
  it('stores a post, a PUT over it and a reply in its thread', async () => {
    const posted = (await (await call('POST', `/v3/conversations/${C}/activities`, card('one'))).json()) as {
      id: string;
    };
    expect((await call('PUT', `/v3/conversations/${C}/activities/${posted.id}`, card('two'))).status).toBe(
      200,
    );
    const reply = await call(
      'POST',
      `/v3/conversations/${C};messageid=${posted.id}/activities/${posted.id}`,
      card('r'),
    );
    expect(reply.status).toBe(201);
    expect(fake.updates(posted.id)).toHaveLength(1);
    expect(fake.replies(posted.id)).toHaveLength(1);
    expect(fake.posts(C).map((p) => p.id)).toEqual([posted.id]);
    fake.verify();
  });

  it('answers a wrong or missing bearer token with 401 and fails the test', async () => {
    expect((await call('POST', `/v3/conversations/${C}/activities`, card('x'), 'stolen')).status).toBe(401);
    expect((await call('POST', `/v3/conversations/${C}/activities`, card('x'), null)).status).toBe(401);
    expect(fake.server.takeProblems().violations.map((v) => v.kind)).toEqual(['bad_token', 'bad_token']);
  });

  it("enforces Teams' message size, card version and known conversations and messages", async () => {
    expect((await call('POST', `/v3/conversations/${C}/activities`, card('x'.repeat(30_000)))).status).toBe(
      413,
    );
    const old = card('x');
    (old.attachments[0]!.content as { version: string }).version = '1.6';
    expect((await call('POST', `/v3/conversations/${C}/activities`, old)).status).toBe(400);
    expect((await call('POST', '/v3/conversations/19:nope@thread.tacv2/activities', card('x'))).status).toBe(
      403,
    );
    expect((await call('PUT', `/v3/conversations/${C}/activities/999`, card('x'))).status).toBe(404);
    expect(fake.server.takeProblems().violations.map((v) => v.kind)).toEqual([
      'message_too_large',
      'invalid_card',
      'unknown_conversation',
      'unknown_activity',
    ]);
  });

  it('refuses a message one byte over the documented limit, and takes one at it', async () => {
    const sized = (bytes: number) => {
      const body = card('');
      const overhead = Buffer.byteLength(JSON.stringify(body));
      (body.attachments[0]!.content.body[0] as { text: string }).text = 'x'.repeat(bytes - overhead);
      return body;
    };
    expect(TEAMS_MESSAGE_LIMIT_BYTES).toBe(28 * 1024);
    expect(
      (await call('POST', `/v3/conversations/${C}/activities`, sized(TEAMS_MESSAGE_LIMIT_BYTES))).status,
    ).toBe(201);
    const over = await call(
      'POST',
      `/v3/conversations/${C}/activities`,
      sized(TEAMS_MESSAGE_LIMIT_BYTES + 1),
    );
    expect(over.status).toBe(413);
    expect(await over.json()).toEqual({
      error: { code: 'MessageSizeTooBig', message: 'Message size too big' },
    });
    expect(fake.server.takeProblems().violations.map((v) => v.kind)).toEqual(['message_too_large']);
  });

  it('takes Images at https URLs or inline, and refuses ones Teams would not load', async () => {
    const withImage = (url: string) => {
      const body = card('chart below');
      (body.attachments[0]!.content.body as unknown[]).push({
        type: 'Container',
        items: [{ type: 'Image', url, altText: 'a chart' }],
      });
      return body;
    };
    for (const ok of ['https://warden.example.test/images/1.png?t=x', 'data:image/png;base64,iVBORw0KGgo=']) {
      expect((await call('POST', `/v3/conversations/${C}/activities`, withImage(ok))).status).toBe(201);
    }
    for (const bad of [
      'http://localhost:3000/images/1.png',
      'data:text/html;base64,PGI+',
      'javascript:alert(1)',
    ]) {
      expect((await call('POST', `/v3/conversations/${C}/activities`, withImage(bad))).status).toBe(400);
    }
    expect(fake.server.takeProblems().violations.map((v) => v.kind)).toEqual([
      'invalid_card',
      'invalid_card',
      'invalid_card',
    ]);
  });

  it('fails the test on a call it does not know, and can throttle', async () => {
    expect((await call('DELETE', `/v3/conversations/${C}/activities/1`)).status).toBe(404);
    expect(fake.server.takeProblems().unexpected).toHaveLength(1);
    fake.server.rateLimitNext(`POST /v3/conversations/${C}/activities`, { retryAfterSeconds: 7 });
    const throttled = await call('POST', `/v3/conversations/${C}/activities`, card('x'));
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('7');
    fake.verify();
  });
});
