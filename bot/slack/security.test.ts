import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/db.js';
import { CHANNEL, nextId, SIGNING_SECRET, type SlackWorld, startSlackWorld } from './testing.js';
import { signSlackRequest } from './verify.js';

const db = useTestDatabase('slack-security');
let world: SlackWorld;

beforeEach(async () => {
  world = await startSlackWorld(db.current.sql);
});

afterEach(async () => {
  try {
    world.slack.verify();
  } finally {
    await world.stop();
  }
});

async function state() {
  const [row] = await db.current.sql<Record<string, number>[]>`
    select (select count(*) from interactions)::int as interactions,
           (select count(*) from approval_requests)::int as requests,
           (select count(*) from approval_decisions)::int as decisions,
           (select count(*) from audit_events)::int as events,
           (select count(*) from outbox)::int as outbox,
           (select count(*) from slack_event_ids)::int as event_ids`;
  return row!;
}

/** A state-changing slash command (it opens an approval request), as one fixed raw body. */
async function roleRequestBody(): Promise<string> {
  const [project] = await db.current.sql<
    { slug: string }[]
  >`select slug from projects where id = ${world.projectId}`;
  return new URLSearchParams({
    command: '/warden',
    text: `role request approver on ${project!.slug} reason "to approve patches"`,
    user_id: world.ids.alice,
    channel_id: CHANNEL,
    team_id: world.slack.state.teamId,
    response_url: world.slack.responseUrl(nextId('sec-')),
    trigger_id: world.slack.newTriggerId(),
  }).toString();
}

function now(): number {
  return Math.floor(world.deps.clock.now().getTime() / 1000);
}

describe('Slack request verification', () => {
  it('accepts a correctly signed slash command and opens the request', async () => {
    const before = await state();
    const res = await world.send(await roleRequestBody());
    expect(res.status).toBe(200);
    const after = await state();
    expect(after.requests).toBe(before.requests + 1);
    expect(after.interactions).toBe(before.interactions + 1);
  });

  it.each([
    ['signed with the wrong secret', { secret: 'wrongsecret0123456789' }],
    ['signed 301 s ago', { ts: -301 }],
    ['signed an hour in the future', { ts: 3600 }],
    ['signed 301 s in the future', { ts: 301 }],
  ])('answers 401 to a slash command %s and changes nothing', async (_name, variant) => {
    const raw = await roleRequestBody();
    const before = await state();
    const res = await world.send(raw, {
      ...('secret' in variant ? { secret: variant.secret } : {}),
      ...('ts' in variant ? { ts: now() + variant.ts } : {}),
    });
    expect(res.status).toBe(401);
    expect(await state()).toEqual(before);
    expect(world.slack.calls).toHaveLength(0);
  });

  it('accepts a request signed 299 s ago or ahead (the window holds on both sides)', async () => {
    expect((await world.send(await roleRequestBody(), { ts: now() - 299 })).status).toBe(200);
    const help = new URLSearchParams({
      command: '/warden',
      text: 'help',
      user_id: world.ids.bob,
      channel_id: CHANNEL,
    }).toString();
    expect((await world.send(help, { ts: now() + 299 })).status).toBe(200);
  });

  it('answers 401 to a tampered body and changes nothing', async () => {
    const raw = await roleRequestBody();
    const ts = now();
    const before = await state();
    const res = await world.app.request('/slack/events', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-slack-request-timestamp': String(ts),
        'x-slack-signature': signSlackRequest(SIGNING_SECRET, raw, ts),
      },
      body: raw.replace('approver', 'admin'),
    });
    expect(res.status).toBe(401);
    expect(await state()).toEqual(before);
  });

  it('answers 401 to an exact replay and changes nothing', async () => {
    const raw = await roleRequestBody();
    const ts = now();
    expect((await world.send(raw, { ts })).status).toBe(200);
    await world.slackApp.idle();
    const before = await state();
    world.deps.clock.advance(10_000);
    const replay = await world.send(raw, { ts });
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ error: { code: 'unauthenticated' } });
    expect(await state()).toEqual(before);
  });

  it('answers 401 without signature headers', async () => {
    const res = await world.app.request('/slack/events', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: await roleRequestBody(),
    });
    expect(res.status).toBe(401);
  });

  it('answers the url_verification challenge only when it is signed', async () => {
    const body = { type: 'url_verification', challenge: 'abc123', token: 'legacy' };
    const ok = await world.event(body);
    expect(await ok.json()).toEqual({ challenge: 'abc123' });
    const forged = await world.event({ ...body, challenge: 'zzz' }, { secret: 'not-the-secret-at-all' });
    expect(forged.status).toBe(401);
  });

  it('runs an event once when Slack retries it with X-Slack-Retry-Num', async () => {
    const body = {
      type: 'event_callback',
      team_id: world.slack.state.teamId,
      event_id: nextId('Ev0'),
      event: { type: 'app_home_opened', user: world.ids.bob, channel: 'D0BOB', tab: 'home' },
    };
    expect((await world.event(body)).status).toBe(200);
    await world.slackApp.idle();
    expect(world.slack.callsTo('views.publish')).toHaveLength(1);
    world.deps.clock.advance(60_000);
    const retry = await world.event(body, {
      headers: { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' },
    });
    expect(retry.status).toBe(200);
    await world.slackApp.idle();
    expect(world.slack.callsTo('views.publish')).toHaveLength(1);
  });

  it("answers Slack's signed ssl_check with 200 and runs nothing", async () => {
    const res = await world.send('ssl_check=1&token=legacy');
    expect(res.status).toBe(200);
    expect(world.slack.calls).toHaveLength(0);
  });

  it('refuses a signed body it cannot read with 400', async () => {
    const res = await world.send('payload=%7Bnot-json', {});
    expect(res.status).toBe(400);
  });
});
