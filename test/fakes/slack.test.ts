import { webApi } from '@slack/bolt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeSlack, startFakeSlack } from './slack.js';

const quietLogger: webApi.Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  setLevel: () => {},
  getLevel: () => webApi.LogLevel.ERROR,
  setName: () => {},
};

function client(slack: FakeSlack, token = 'xoxb-test'): webApi.WebClient {
  return new webApi.WebClient(token, {
    slackApiUrl: slack.url,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    logger: quietLogger,
  });
}

async function post(slack: FakeSlack, method: string, body: string, headers: Record<string, string>) {
  const res = await fetch(`${slack.url}${method}`, { method: 'POST', body, headers });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
}

function section(text: string) {
  return { type: 'section', text: { type: 'mrkdwn', text } };
}

let slack: FakeSlack;

beforeEach(async () => {
  slack = await startFakeSlack({
    channels: [
      { id: 'C0OPS', name: 'ops' },
      { id: 'C0SECRET', name: 'secret', isMember: false },
    ],
    users: [{ id: 'U0ALICE', name: 'alice', email: 'alice@example.com' }],
  });
});

afterEach(async () => {
  try {
    slack.verify();
  } finally {
    await slack.stop();
  }
});

describe('fake Slack Web API', () => {
  it('serves a base URL ending in /api/ on 127.0.0.1', () => {
    expect(slack.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/$/);
  });

  it('posts, updates and threads a message through WebClient', async () => {
    const web = client(slack);
    const first = await web.chat.postMessage({
      channel: 'C0OPS',
      text: 'patch plan',
      blocks: [section('*plan*')],
    });
    const reply = await web.chat.postMessage({ channel: 'C0OPS', text: 'approved', thread_ts: first.ts });
    const updated = await web.chat.update({
      channel: 'C0OPS',
      ts: first.ts ?? '',
      text: 'patch plan (approved)',
    });

    expect(first.ts).toMatch(/^\d{10}\.\d{6}$/);
    expect(Number(reply.ts)).toBeGreaterThan(Number(first.ts));
    expect(updated.text).toBe('patch plan (approved)');
    const [parent] = slack.messages('C0OPS');
    expect(parent?.text).toBe('patch plan (approved)');
    expect(parent?.blocks).toEqual([section('*plan*')]);
    expect(parent?.edits).toBe(1);
    expect(slack.thread('C0OPS', first.ts ?? '').map((m) => m.text)).toEqual(['approved']);
    expect(slack.callsTo('chat.postMessage')[0]?.args.blocks).toEqual([section('*plan*')]);
  });

  it('accepts form bodies with blocks as a JSON string and JSON bodies with blocks as an array', async () => {
    const blocks = [section('hello')];
    const form = new URLSearchParams({ token: 'xoxb-test', channel: 'ops', blocks: JSON.stringify(blocks) });
    const viaForm = await post(slack, 'chat.postMessage', form.toString(), {
      'content-type': 'application/x-www-form-urlencoded',
    });
    const viaJson = await post(slack, 'chat.postMessage', JSON.stringify({ channel: 'C0OPS', blocks }), {
      'content-type': 'application/json; charset=utf-8',
      authorization: 'Bearer xoxb-test',
    });

    expect(viaForm.json.ok).toBe(true);
    expect(viaJson.json.ok).toBe(true);
    expect(slack.messages('C0OPS').map((m) => m.blocks)).toEqual([blocks, blocks]);
  });

  it('rejects a missing token with not_authed and a wrong one with invalid_auth', async () => {
    slack.expectError('not_authed');
    slack.expectError('invalid_auth');
    const none = await post(slack, 'auth.test', '', {});
    await expect(client(slack, 'xoxb-wrong').auth.test()).rejects.toMatchObject({
      code: webApi.ErrorCode.PlatformError,
      data: { ok: false, error: 'invalid_auth' },
    });
    expect(none.json).toMatchObject({ ok: false, error: 'not_authed' });
  });

  it('records an undeclared auth failure so the test fails', async () => {
    await expect(client(slack, 'xoxb-wrong').auth.test()).rejects.toThrow(/invalid_auth/);
    expect(() => slack.assertNoUnexpected()).toThrow(
      /invalid_auth: auth.test was called with an unknown token/,
    );
    expect(slack.takeProblems().violations.map((v) => v.kind)).toEqual(['invalid_auth']);
  });

  it('answers token_revoked once the token is revoked', async () => {
    slack.revokeToken();
    await expect(client(slack).auth.test()).rejects.toMatchObject({ data: { error: 'token_revoked' } });
  });

  it('refuses a 51-block message with invalid_blocks', async () => {
    slack.expectError('invalid_blocks');
    const blocks = Array.from({ length: 51 }, (_, i) => section(`line ${i}`));
    await expect(
      client(slack).chat.postMessage({ channel: 'C0OPS', text: 'x', blocks }),
    ).rejects.toMatchObject({
      data: { error: 'invalid_blocks', errors: ['no more than 50 items allowed [json-pointer:/blocks]'] },
    });
    expect(slack.messages('C0OPS')).toEqual([]);
  });

  it("refuses a 3001-character section with Slack's json-pointer message", async () => {
    slack.expectError('invalid_blocks');
    const blocks = [section('a'.repeat(3000)), section('b'.repeat(3001))];
    await expect(
      client(slack).chat.postMessage({ channel: 'C0OPS', text: 'x', blocks }),
    ).rejects.toMatchObject({
      data: {
        error: 'invalid_blocks',
        response_metadata: {
          messages: ['[ERROR] must be less than 3001 characters [json-pointer:/blocks/1/text/text]'],
        },
      },
    });
  });

  it('fails the test when a rendering limit is broken without being declared', async () => {
    const blocks = [{ type: 'header', text: { type: 'plain_text', text: 'h'.repeat(151) } }];
    await expect(client(slack).chat.postMessage({ channel: 'C0OPS', text: 'x', blocks })).rejects.toThrow();
    expect(() => slack.assertNoUnexpected()).toThrow(
      /invalid_blocks: chat.postMessage: must be less than 151/,
    );
    slack.takeProblems();
  });

  it('truncates text above 40,000 characters with the message_truncated warning', async () => {
    slack.expectError('message_truncated');
    const answer = await client(slack).chat.postMessage({ channel: 'C0OPS', text: 'é'.repeat(40_001) });
    expect(answer.response_metadata?.warnings).toEqual(['message_truncated']);
    expect([...(slack.messages('C0OPS')[0]?.text ?? '')].length).toBe(40_000);
  });

  it('stores hostile text verbatim and treats a hostile channel as unknown', async () => {
    const text = '; rm -rf / $(reboot) `id`\nsecond line 🚀 ünïcødé';
    await client(slack).chat.postMessage({ channel: 'C0OPS', text });
    expect(slack.messages('C0OPS')[0]?.text).toBe(text);
    await expect(client(slack).chat.postMessage({ channel: '$(id); #ops', text })).rejects.toMatchObject({
      data: { error: 'channel_not_found' },
    });
  });

  it('answers channel_not_found and not_in_channel from the workspace state', async () => {
    const web = client(slack);
    await expect(web.chat.postMessage({ channel: 'C0NOPE', text: 'x' })).rejects.toMatchObject({
      data: { error: 'channel_not_found' },
    });
    await expect(web.chat.postMessage({ channel: 'secret', text: 'x' })).rejects.toMatchObject({
      data: { error: 'not_in_channel' },
    });
  });

  it('lets WebClient see a 429 with Retry-After', async () => {
    slack.rateLimitNext('chat.postMessage', { retryAfterSeconds: 7 });
    await expect(client(slack).chat.postMessage({ channel: 'C0OPS', text: 'x' })).rejects.toMatchObject({
      code: webApi.ErrorCode.RateLimitedError,
      retryAfter: 7,
    });
    const raw = slack.callsTo('chat.postMessage')[0];
    expect(raw?.status).toBe(429);
    expect(raw?.answer).toEqual({ ok: false, error: 'ratelimited' });
    expect(slack.messages('C0OPS')).toEqual([]);
    await expect(client(slack).chat.postMessage({ channel: 'C0OPS', text: 'x' })).resolves.toMatchObject({
      ok: true,
    });
  });

  it('injects an arbitrary error for the next call only', async () => {
    slack.failNext('users.info', { error: 'fatal_error' });
    const web = client(slack);
    await expect(web.users.info({ user: 'U0ALICE' })).rejects.toMatchObject({
      data: { error: 'fatal_error' },
    });
    const answer = await web.users.info({ user: 'U0ALICE' });
    expect(answer.user?.profile?.email).toBe('alice@example.com');
  });

  it('finds users by email and opens a DM with them', async () => {
    const web = client(slack);
    const found = await web.users.lookupByEmail({ email: 'ALICE@example.com' });
    const dm = await web.conversations.open({ users: found.user?.id ?? '' });
    await web.chat.postMessage({ channel: dm.channel?.id ?? '', text: 'your access expires soon' });
    expect(slack.messages('U0ALICE').map((m) => m.text)).toEqual(['your access expires soon']);
    await expect(web.users.lookupByEmail({ email: 'bob@example.com' })).rejects.toMatchObject({
      data: { error: 'users_not_found' },
    });
  });

  it('uploads a file in three steps through files.uploadV2', async () => {
    const content = 'host,cve\nweb-1,CVE-2024-0001\n';
    await client(slack).files.uploadV2({
      channel_id: 'C0OPS',
      filename: 'report.csv',
      content,
      initial_comment: 'compliance report',
    });
    expect(slack.calls.map((c) => c.method)).toEqual([
      'files.getUploadURLExternal',
      'files.completeUploadExternal',
    ]);
    expect(slack.server.requestsMatching(/^POST \/upload\/v1\//)).toHaveLength(1);
    const [file] = [...slack.state.files.values()];
    expect(file?.data?.toString()).toBe(content);
    expect(file?.completed).toBe(true);
    expect(slack.messages('C0OPS')[0]).toMatchObject({ text: 'compliance report', files: [file?.id] });
  });

  it('opens, updates and publishes views within the modal limits', async () => {
    const web = client(slack);
    const view = {
      type: 'modal' as const,
      title: { type: 'plain_text' as const, text: 'Request access' },
      blocks: [],
    };
    const opened = await web.views.open({ trigger_id: slack.newTriggerId(), view });
    await web.views.update({
      view_id: opened.view?.id ?? '',
      hash: opened.view?.hash,
      view: { ...view, blocks: [section('ok')] },
    });
    await web.views.publish({ user_id: 'U0ALICE', view: { type: 'home', blocks: [section('home')] } });
    expect(slack.state.views.get(opened.view?.id ?? '')?.history).toHaveLength(2);
    expect(slack.state.homeViews.get('U0ALICE')?.view.blocks).toEqual([section('home')]);

    slack.expectError('invalid_arguments');
    const tooLong = { ...view, title: { type: 'plain_text' as const, text: 'x'.repeat(25) } };
    await expect(web.views.open({ trigger_id: slack.newTriggerId(), view: tooLong })).rejects.toMatchObject({
      data: {
        error: 'invalid_arguments',
        errors: ['must be less than 25 characters [json-pointer:/view/title/text]'],
      },
    });
  });

  it('records posts to a response_url and applies replace_original', async () => {
    const posted = await client(slack).chat.postMessage({ channel: 'C0OPS', text: 'Approve?' });
    const url = slack.responseUrl('r1', { channel: 'C0OPS', ts: posted.ts ?? '' });
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ replace_original: true, text: 'Approved by alice' }),
    });
    expect(res.status).toBe(200);
    expect(slack.responses('r1')).toEqual([{ replace_original: true, text: 'Approved by alice' }]);
    expect(slack.messages('C0OPS')[0]?.text).toBe('Approved by alice');
  });

  it('makes assertNoUnexpected throw after a call nobody implemented or expected', async () => {
    await expect(client(slack).conversations.history({ channel: 'C0OPS' })).rejects.toMatchObject({
      data: { error: 'unknown_method' },
    });
    expect(() => slack.assertNoUnexpected()).toThrow(
      /unexpected request #1 POST \/api\/conversations.history/,
    );
    expect(slack.takeProblems().unexpected).toHaveLength(1);
  });

  it('admits only declared methods with onlyExpectedCalls and reports expected calls that never came', async () => {
    const strict = await startFakeSlack({ onlyExpectedCalls: true, channels: [{ id: 'C1', name: 'x' }] });
    try {
      strict.expectCall('auth.test');
      strict.expectCall('chat.postMessage', { times: 2 });
      await client(strict).auth.test();
      await client(strict).chat.postMessage({ channel: 'C1', text: 'one' });
      await expect(client(strict).users.info({ user: 'U1' })).rejects.toThrow(/unknown_method/);
      expect(() => strict.assertNoUnexpected()).toThrow(/users.info/);
      expect(() => strict.assertAllExpectedCalled()).toThrow(/\/api\/chat.postMessage 2 time\(s\), got 1/);
    } finally {
      await strict.stop();
    }
  });
});
