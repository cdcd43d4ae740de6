import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/logger.js';
import { useTestDatabase } from '../../test/db.js';
import { createSlackIdentity } from './identity.js';
import { CHANNEL, clickPayload, nextId, type SlackWorld, startSlackWorld } from './testing.js';
import { createWebClient } from './web.js';

const db = useTestDatabase('slack-commands');
let world: SlackWorld | undefined;

afterEach(async () => {
  if (!world) return;
  try {
    world.slack.verify();
  } finally {
    await world.stop();
    world = undefined;
  }
});

async function interactions(): Promise<number> {
  const [row] = await db.current.sql<{ n: number }[]>`select count(*)::int as n from interactions`;
  return row!.n;
}

describe('/warden on Slack', () => {
  it('answers a fast command in the acknowledgement itself', async () => {
    world = await startSlackWorld(db.current.sql);
    const res = await world.command('whoami');
    const body = (await res.json()) as { response_type: string; text: string };
    expect(body.response_type).toBe('ephemeral');
    expect(body.text).toMatch(/^You are @alice/);
  });

  it("hands the command layer what the user typed, not Slack's &amp; &lt; &gt; escapes", async () => {
    world = await startSlackWorld(db.current.sql);
    // Slack escapes the user's "a && b <c> &lt;" like this in the text field.
    const res = await world.command(
      `role request approver on ${world.projectSlug} reason "a &amp;&amp; b &lt;c&gt; &amp;lt;"`,
    );
    expect(res.status).toBe(200);
    await world.slackApp.idle();
    const [row] = await db.current.sql<{ text: string }[]>`
      select body->>'text' as text from interactions where platform = 'slack' order by id desc limit 1`;
    expect(row!.text).toBe(`role request approver on ${world.projectSlug} reason "a && b <c> &lt;"`);
    const [request] = await db.current.sql<{ details: string }[]>`
      select details::text as details from approval_requests order by id desc limit 1`;
    expect(request!.details).toContain('a && b <c> &lt;');
  });

  it('acknowledges a slow command with "working on it" and answers through the response_url', async () => {
    world = await startSlackWorld(db.current.sql, { fastReplyMs: 0 });
    const responseId = nextId('slow-');
    const res = await world.command('whoami', world.ids.alice, {
      response_url: world.slack.responseUrl(responseId),
    });
    expect(await res.json()).toMatchObject({
      response_type: 'ephemeral',
      text: ':hourglass_flowing_sand: Working on it…',
    });
    await world.slackApp.idle();
    expect(String(world.slack.responses(responseId)[0]?.text)).toMatch(/^You are @alice/);
  });

  it('keeps a huge public answer within Block Kit when it goes to the channel', async () => {
    world = await startSlackWorld(db.current.sql, { fastReplyMs: 0 });
    const responseId = nextId('huge-');
    await world.command('test huge', world.ids.alice, { response_url: world.slack.responseUrl(responseId) });
    await world.slackApp.idle();
    const [answer] = world.slack.responses(responseId);
    expect(answer).toMatchObject({ response_type: 'in_channel' });
    expect((answer!.blocks as unknown[]).length).toBeLessThanOrEqual(50);
    expect(JSON.stringify(answer!.blocks)).toContain('5 more actions not shown');
    expect(JSON.stringify(answer!.blocks)).toContain('Open the full view');
    // The fake checks every limit and fails verify() in afterEach on any breach.
  });

  it('tells a Slack user Warden does not know, privately, what to do', async () => {
    world = await startSlackWorld(db.current.sql);
    const res = await world.command('whoami', world.ids.stranger);
    const body = (await res.json()) as { response_type: string; text: string };
    expect(body.response_type).toBe('ephemeral');
    expect(body.text).toContain('Warden does not know you yet');
    expect(JSON.stringify(body)).toContain(world.ids.stranger);
  });

  it('says "try again" rather than "unknown" when Slack cannot be asked who the user is, and records nothing', async () => {
    world = await startSlackWorld(db.current.sql);
    world.slack.failNext('users.info', { error: 'fatal_error' });
    const before = await interactions();
    const res = await world.command('whoami', world.ids.carol);
    expect(((await res.json()) as { text: string }).text).toMatch(/could not ask Slack who you are just now/);
    expect(await interactions()).toBe(before);
  });

  it('asks users.info once per user and shares the answer with other replicas through Postgres', async () => {
    world = await startSlackWorld(db.current.sql);
    await world.command('whoami');
    await world.command('whoami');
    expect(world.slack.callsTo('users.info')).toHaveLength(1);
    const replica = createSlackIdentity({
      sql: db.current.sql,
      client: createWebClient('xoxb-test', world.slack.url, silentLogger()),
      clock: world.deps.clock,
      log: silentLogger(),
    });
    expect(await replica.describe(world.ids.bob)).toMatchObject({
      email: expect.stringMatching(/^bob\d+@example\.com$/),
    });
    expect(await replica.describe(world.ids.bob)).toMatchObject({ externalId: world.ids.bob });
    expect(world.slack.callsTo('users.info')).toHaveLength(2);
    world.deps.clock.advance(61 * 60_000);
    await world.command('whoami');
    expect(world.slack.callsTo('users.info')).toHaveLength(3);
  });

  it('explains privately when a form cannot be opened', async () => {
    world = await startSlackWorld(db.current.sql);
    world.slack.expectError('invalid_trigger_id');
    const responseId = nextId('form-');
    await world.command('test form', world.ids.alice, {
      trigger_id: 'bogus',
      response_url: world.slack.responseUrl(responseId),
    });
    await world.slackApp.idle();
    expect(String(world.slack.responses(responseId)[0]?.text)).toMatch(/could not open the form/);
  });

  it('answers 500, not an acknowledgement, when the click cannot be recorded', async () => {
    const broken = db.current.connectAgain(1);
    await broken.end();
    world = await startSlackWorld(db.current.sql, { ingressSql: broken });
    const res = await world.interactive(
      clickPayload(world, { user: world.ids.bob, actionId: 'approval.approve', value: '1', ts: '1.1' }),
    );
    expect(res.status).toBe(500);
    expect(world.slack.callsTo('chat.update')).toHaveLength(0);
  });

  it('ignores clicks on link buttons without recording them', async () => {
    world = await startSlackWorld(db.current.sql);
    const before = await interactions();
    const res = await world.interactive(
      clickPayload(world, { user: world.ids.alice, actionId: 'link:x.docs', value: '', ts: '1.1' }),
    );
    expect(res.status).toBe(200);
    expect(await interactions()).toBe(before);
  });

  it('treats hostile command text as text', async () => {
    world = await startSlackWorld(db.current.sql);
    const res = await world.command('servers ; rm -rf / $(reboot)\n`id` ünï 🚀');
    const body = (await res.json()) as { text: string };
    expect(body.text).toMatch(/Unexpected|too many|Usage/);
    expect(world.slack.messages(CHANNEL)).toHaveLength(0);
  });
});
