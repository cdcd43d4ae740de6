import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/db.js';
import { CHANNEL, clickPayload, nextId, type SlackWorld, startSlackWorld } from './testing.js';

const db = useTestDatabase('slack-socket');
let world: SlackWorld;

beforeEach(async (ctx) => {
  if (ctx.task.name.includes('wrong app token')) return;
  world = await startSlackWorld(db.current.sql, { mode: 'socket' });
  await world.slackApp.start();
  await world.slack.socket.waitForConnection();
});

afterEach(async () => {
  try {
    world.slack.verify();
  } finally {
    await world.stop();
  }
});

describe('Slack Socket Mode', () => {
  it('connects with the app token, runs a slash command and a click, and reports the socket in /readyz', async () => {
    expect(world.slack.calls.map((c) => c.method).slice(0, 2)).toEqual([
      'auth.test',
      'apps.connections.open',
    ]);
    expect(world.slack.callsTo('apps.connections.open')[0]?.token).toBe('xapp-test');
    const ready = await world.app.request('/readyz');
    expect(await ready.json()).toMatchObject({ checks: { slack: 'ok', 'slack-socket': 'ok' } });
    // No HTTP endpoint in Socket Mode: nothing listens at /slack/events.
    expect((await world.send('command=/warden')).status).toBe(404);

    const command = await world.slack.socket.push({
      type: 'slash_commands',
      payload: {
        command: '/warden',
        text: `role request approver on ${world.projectSlug} reason "to approve patches"`,
        user_id: world.ids.alice,
        channel_id: CHANNEL,
        team_id: world.slack.state.teamId,
        response_url: world.slack.responseUrl(nextId('sock-')),
        trigger_id: world.slack.newTriggerId(),
      },
    });
    expect(command.payload).toMatchObject({
      response_type: 'ephemeral',
      text: expect.stringMatching(/Request #\d+ .* is open/),
    });
    await world.slackApp.idle();
    await world.worker.drainOnce();
    const [message] = world.slack.messages(CHANNEL);
    const id = /Approval #(\d+)/.exec(message!.text)![1]!;

    const click = await world.slack.socket.push({
      type: 'interactive',
      payload: clickPayload(world, {
        user: world.ids.bob,
        actionId: 'approval.approve',
        value: id,
        ts: message!.ts,
      }),
    });
    // A click is acknowledged with nothing to show: the answer comes by chat.update.
    expect(click.payload ?? {}).toEqual({});
    await world.slackApp.idle();
    expect(world.slack.callsTo('chat.update')[0]?.args).toMatchObject({ channel: CHANNEL, ts: message!.ts });
    const [row] = await db.current.sql<
      { status: string }[]
    >`select status from approval_requests where id = ${Number(id)}`;
    expect(row!.status).toBe('approved');
  });

  it('runs a retried event once', async () => {
    const payload = {
      type: 'event_callback',
      team_id: world.slack.state.teamId,
      event_id: nextId('EvSock'),
      event: { type: 'app_home_opened', user: world.ids.bob, channel: 'D0X', tab: 'home' },
    };
    await world.slack.socket.push({ type: 'events_api', payload });
    await world.slackApp.idle();
    await world.slack.socket.push({ type: 'events_api', payload });
    await world.slackApp.idle();
    expect(world.slack.callsTo('views.publish')).toHaveLength(1);
  });

  it('starts anyway with a wrong app token, and says so in /readyz', async () => {
    world = await startSlackWorld(db.current.sql, { mode: 'socket', appToken: 'xapp-wrong' });
    world.slack.expectError('invalid_auth');
    await world.slackApp.start();
    const ready = await world.app.request('/readyz');
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ failed: ['slack-socket'], checks: { slack: 'ok' } });
  });
});
