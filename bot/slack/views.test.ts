import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/db.js';
import { CHANNEL, clickPayload, nextId, openHome, type SlackWorld, startSlackWorld } from './testing.js';

const db = useTestDatabase('slack-views');
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

type Values = Record<string, Record<string, Record<string, unknown>>>;

function submission(
  view: Record<string, unknown>,
  values: Values,
  user = world.ids.alice,
): Record<string, unknown> {
  return {
    type: 'view_submission',
    team: { id: world.slack.state.teamId },
    user: { id: user, username: 'alice' },
    trigger_id: world.slack.newTriggerId(),
    view: { ...view, state: { values } },
  };
}

function values(server: string, duration: string, reason = 'patching'): Values {
  return {
    server: {
      server: {
        type: 'external_select',
        selected_option: { text: { type: 'plain_text', text: server }, value: server },
      },
    },
    duration: { duration: { type: 'plain_text_input', value: duration } },
    reason: { textarea: { type: 'plain_text_input', value: reason } },
  };
}

async function openForm(): Promise<{ view: Record<string, unknown>; responseId: string }> {
  const responseId = nextId('form-');
  const res = await world.command('test form', world.ids.alice, {
    response_url: world.slack.responseUrl(responseId),
  });
  expect(res.status).toBe(200);
  expect(await res.text()).toBe('');
  await world.slackApp.idle();
  const [opened] = world.slack.callsTo('views.open');
  expect(opened?.answer).toMatchObject({ ok: true });
  return { view: (opened!.answer as { view: Record<string, unknown> }).view, responseId };
}

describe('Slack modals', () => {
  it('opens a modal for a command that needs a form, keeping the state and the channel', async () => {
    const { view } = await openForm();
    expect(view).toMatchObject({
      type: 'modal',
      callback_id: 'test-access',
      title: { text: 'Request access to a ser…' },
    });
    const blocks = view.blocks as { block_id: string; element: { type: string } }[];
    expect(blocks.map((b) => [b.block_id, b.element.type])).toEqual([
      ['server', 'external_select'],
      ['duration', 'plain_text_input'],
      ['reason', 'plain_text_input'],
    ]);
    expect(JSON.parse(String(view.private_metadata))).toMatchObject({ c: CHANNEL, s: 'state-42' });
  });

  it('answers a bad duration with a field-level error and records nothing', async () => {
    const { view } = await openForm();
    const [before] = await db.current.sql<{ n: number }[]>`select count(*)::int as n from interactions`;
    const res = await world.interactive(submission(view, values('web-01', 'forever')));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { response_action: string; errors: Record<string, string> };
    expect(body.response_action).toBe('errors');
    expect(Object.keys(body.errors)).toEqual(['duration']);
    expect(body.errors.duration).toMatch(/"forever" is not a duration/);
    const [after] = await db.current.sql<{ n: number }[]>`select count(*)::int as n from interactions`;
    expect(after!.n).toBe(before!.n);
  });

  it("shows the command's own field errors, then closes the modal and answers privately once the form is right", async () => {
    const { view, responseId } = await openForm();
    const wrong = await world.interactive(submission(view, values('nope', '2h')));
    expect(await wrong.json()).toEqual({
      response_action: 'errors',
      errors: { server: 'there is no server nope' },
    });

    const right = await world.interactive(submission(view, values('web-01', '2h')));
    expect(right.status).toBe(200);
    expect(await right.text()).toBe('');
    await world.slackApp.idle();
    const [answer] = world.slack.responses(responseId);
    expect(answer).toMatchObject({ response_type: 'ephemeral' });
    expect(String(answer!.text)).toContain('Requested web-01 for 2h (state state-42).');
  });

  it('offers only servers the user may read in the server picker', async () => {
    const sql = db.current.sql;
    const tag = nextId('');
    await sql`insert into servers (name, project_id) values
      (${`web-a${tag}`}, ${world.projectId}), (${`web-b${tag}`}, ${world.projectId}), (${`db-a${tag}`}, ${world.projectId})`;
    const [other] = await sql<
      { id: number }[]
    >`insert into projects (slug, name) values (${`hidden${tag}`}, 'h') returning id`;
    await sql`insert into servers (name, project_id) values (${`web-hidden${tag}`}, ${other!.id})`;
    const suggest = (user: string, value: string) =>
      world.interactive({
        type: 'block_suggestion',
        user: { id: user },
        action_id: 'server',
        block_id: 'server',
        value,
      });

    const res = await suggest(world.ids.alice, 'WEB');
    const body = (await res.json()) as { options: { value: string; text: { text: string } }[] };
    expect(body.options.map((o) => o.value).filter((v) => v.endsWith(tag))).toEqual([
      `web-a${tag}`,
      `web-b${tag}`,
    ]);
    const stranger = await suggest(world.ids.stranger, 'web');
    expect(await stranger.json()).toEqual({ options: [] });
  });
});

describe('Slack App Home', () => {
  const openedBy = (user: string) => openHome(world, user);

  it("publishes the user's pending approvals with buttons, their requests, grants and projects", async () => {
    const [project] = await db.current.sql<
      { slug: string }[]
    >`select slug from projects where id = ${world.projectId}`;
    await world.command(`role request approver on ${project!.slug} reason "to approve patches"`);
    await world.slackApp.idle();

    const bobHome = JSON.stringify(await openedBy(world.ids.bob));
    expect(bobHome).toContain('Waiting for your decision (1)');
    expect(bobHome).toMatch(/"action_id":"approval.approve","value":"\d+"/);
    expect(bobHome).toContain('No grants yet');
    expect(bobHome).toMatch(/: 0 servers/);

    const aliceHome = JSON.stringify(await openedBy(world.ids.alice));
    expect(aliceHome).toContain('Waiting for your decision (0)');
    expect(aliceHome).toContain('Your open requests (1)');
    expect(aliceHome).toContain(`${project!.slug}: 0 servers`);
  });

  it('tells someone Warden does not know what to do, on the Home tab', async () => {
    const home = JSON.stringify(await openedBy(world.ids.stranger));
    expect(home).toContain(`Warden does not know your Slack account (${world.ids.stranger}) yet`);
  });

  it('decides from the Home tab and publishes it again', async () => {
    const [project] = await db.current.sql<
      { slug: string }[]
    >`select slug from projects where id = ${world.projectId}`;
    await world.command(`role request approver on ${project!.slug} reason "to approve patches"`);
    await world.slackApp.idle();
    const home = JSON.stringify(await openedBy(world.ids.bob));
    const id = /"action_id":"approval.approve","value":"(\d+)"/.exec(home)![1]!;
    const click = clickPayload(world, {
      user: world.ids.bob,
      actionId: 'approval.approve',
      value: id,
      ts: '0',
    });
    delete click.container;
    delete click.message;
    delete click.channel;
    delete click.response_url;
    click.view = { id: 'V1', type: 'home' };
    expect((await world.interactive(click)).status).toBe(200);
    await world.slackApp.idle();
    const again = JSON.stringify(world.slack.state.homeViews.get(world.ids.bob)?.view);
    // The answer to the click sits on top, and the request no longer waits for bob.
    expect(again).toContain(`Approval #${id}`);
    expect(again).toContain('Approved: approved by bob');
    expect(again).not.toContain(`"value":"${id}"`);
  });
});
