import { App, LogLevel } from '@slack/bolt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type FakeSlack, startFakeSlack } from './slack.js';

let slack: FakeSlack;

beforeEach(async () => {
  slack = await startFakeSlack({ channels: [{ id: 'C0OPS', name: 'ops' }] });
});

afterEach(async () => {
  try {
    slack.verify();
  } finally {
    await slack.stop();
  }
});

function nextMessage(ws: WebSocket): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    ws.once('message', (data) => resolve(JSON.parse(data.toString()) as Record<string, unknown>));
    ws.once('error', reject);
  });
}

async function openSocket(): Promise<{ ws: WebSocket; hello: Record<string, unknown> }> {
  const res = await fetch(`${slack.url}apps.connections.open`, {
    method: 'POST',
    headers: { authorization: 'Bearer xapp-test' },
  });
  const answer = (await res.json()) as { ok: boolean; url: string };
  expect(answer.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/link\/\?ticket=/);
  const ws = new WebSocket(answer.url);
  const hello = await nextMessage(ws);
  return { ws, hello };
}

describe('fake Slack Socket Mode', () => {
  it('says hello, delivers an envelope and records the ack', async () => {
    const { ws, hello } = await openSocket();
    try {
      expect(hello).toMatchObject({ type: 'hello', connection_info: { app_id: slack.state.appId } });
      const received = nextMessage(ws);
      const acked = slack.socket.push({ type: 'slash_commands', payload: { command: '/warden' } });
      const envelope = await received;
      ws.send(JSON.stringify({ envelope_id: envelope.envelope_id, payload: { text: 'on it' } }));
      expect(await acked).toEqual({ envelope_id: envelope.envelope_id, payload: { text: 'on it' } });
      expect(slack.socket.acks).toHaveLength(1);
    } finally {
      ws.close();
    }
  });

  it('refuses apps.connections.open with the bot token', async () => {
    slack.expectError('not_allowed_token_type');
    const res = await fetch(`${slack.url}apps.connections.open`, {
      method: 'POST',
      headers: { authorization: 'Bearer xoxb-test' },
    });
    expect(await res.json()).toMatchObject({ ok: false, error: 'not_allowed_token_type' });
  });

  it('rejects a push nobody acknowledges within the deadline', async () => {
    const { ws } = await openSocket();
    try {
      await expect(
        slack.socket.push({ type: 'interactive', payload: {} }, { timeoutMs: 50 }),
      ).rejects.toThrow(/was not acknowledged within 50 ms/);
    } finally {
      ws.close();
    }
  });

  it('runs a Bolt app: auth.test before the socket, then a slash command acked and answered through respond()', async () => {
    const app = new App({
      token: 'xoxb-test',
      appToken: 'xapp-test',
      socketMode: true,
      logLevel: LogLevel.ERROR,
      clientOptions: { slackApiUrl: slack.url, retryConfig: { retries: 0 } },
    });
    app.command('/warden', async ({ ack, respond }) => {
      await ack();
      await respond({ text: 'Scan queued for web-1' });
    });
    await app.start();
    try {
      await slack.socket.waitForConnection();
      const ack = await slack.socket.push({
        type: 'slash_commands',
        payload: {
          command: '/warden',
          text: 'scan web-1',
          user_id: 'U0ALICE',
          channel_id: 'C0OPS',
          team_id: slack.state.teamId,
          api_app_id: slack.state.appId,
          response_url: slack.responseUrl('cmd-1'),
          trigger_id: slack.newTriggerId(),
        },
      });
      expect(ack.envelope_id).toBe(slack.socket.sent[0]?.envelope_id);
      await slack.server.waitFor('POST /response/cmd-1');
      expect(slack.responses('cmd-1')).toEqual([{ text: 'Scan queued for web-1' }]);
      expect(slack.calls.map((c) => c.method).slice(0, 2)).toEqual(['auth.test', 'apps.connections.open']);
    } finally {
      await app.stop();
    }
  });
});
