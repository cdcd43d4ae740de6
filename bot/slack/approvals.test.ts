import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/db.js';
import { CHANNEL, clickPayload, type SlackWorld, startSlackWorld } from './testing.js';

const db = useTestDatabase('slack-approvals');
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

interface Block {
  type: string;
  text?: { text: string };
  elements?: { action_id?: string; value?: string; text?: { text: string } | string }[];
}

function blocksText(blocks: unknown): string {
  return JSON.stringify(blocks ?? []);
}

/** Alice asks for a role; the outbox posts the approval message. Returns the message ts and request id. */
async function openRequest(): Promise<{ ts: string; requestId: string }> {
  const res = await world.command(
    'role request approver on ' + (await slug()) + ' reason "to approve patches"',
  );
  expect(res.status).toBe(200);
  const ack = (await res.json()) as { response_type: string; text: string };
  expect(ack.response_type).toBe('ephemeral');
  expect(ack.text).toMatch(/Request #\d+ for approver on .* is open/);
  await world.slackApp.idle();
  await world.worker.drainOnce();
  const [message] = world.slack.messages(CHANNEL);
  expect(message).toBeDefined();
  const actions = (message!.blocks as Block[]).find((b) => b.type === 'actions');
  const approve = actions?.elements?.find((e) => e.action_id === 'approval.approve');
  return { ts: message!.ts, requestId: approve!.value! };
}

async function slug(): Promise<string> {
  const [row] = await db.current.sql<
    { slug: string }[]
  >`select slug from projects where id = ${world.projectId}`;
  return row!.slug;
}

async function counts() {
  const [row] = await db.current.sql<
    { interactions: number; decisions: number; requests: number; events: number }[]
  >`
    select (select count(*) from interactions)::int as interactions,
           (select count(*) from approval_decisions)::int as decisions,
           (select count(*) from approval_requests)::int as requests,
           (select count(*) from audit_events)::int as events`;
  return row!;
}

describe('Slack approvals end to end', () => {
  it('posts a signed /warden role request as a message with buttons, updates it on an approver click and replies in its thread', async () => {
    const { ts, requestId } = await openRequest();
    const posted = world.slack.messages(CHANNEL)[0]!;
    expect(blocksText(posted.blocks)).toContain('Waiting for approval');
    expect(
      world.slack
        .thread(CHANNEL, ts)
        .map((m) => m.text)
        .join('\n'),
    ).toMatch(/Waiting for 1 approval from: bob/);

    const click = await world.interactive(
      clickPayload(world, { user: world.ids.bob, actionId: 'approval.approve', value: requestId, ts }),
    );
    expect(click.status).toBe(200);
    expect(await click.text()).toBe('');
    await world.slackApp.idle();

    const updates = world.slack.callsTo('chat.update');
    expect(updates.length).toBeGreaterThanOrEqual(1);
    expect(updates[0]!.args).toMatchObject({ channel: CHANNEL, ts });
    const updated = world.slack.messages(CHANNEL).find((m) => m.ts === ts)!;
    expect(updated.text).toMatch(/^:white_check_mark: Approval #\d+/);
    expect(blocksText(updated.blocks)).toMatch(/Approved: approved by bob\w* at 2026-01-05 09:00 UTC/);
    expect(blocksText(updated.blocks)).not.toContain('approval.approve');

    await world.worker.drainOnce();
    // The outbox's own update of the message carries the same content: it is not sent again.
    expect(world.slack.callsTo('chat.update')).toHaveLength(1);
    expect(world.slack.messages(CHANNEL).find((m) => m.ts === ts)!.edits).toBe(1);
    const replies = world.slack.thread(CHANNEL, ts).map((m) => m.text);
    expect(replies.length).toBeGreaterThanOrEqual(2);
    expect(replies.join('\n')).toMatch(/approved/i);
    const [row] = await db.current.sql<
      { status: string }[]
    >`select status from approval_requests where id = ${Number(requestId)}`;
    expect(row!.status).toBe('approved');
    const [binding] = await db.current.sql<{ n: number }[]>`
      select count(*)::int as n from role_bindings where user_id = ${world.users.alice} and role = 'approver'`;
    expect(binding!.n).toBe(1);
  });

  it('refuses a self-approval privately and changes nothing', async () => {
    const { ts, requestId } = await openRequest();
    const before = await counts();
    const res = await world.interactive(
      clickPayload(world, {
        user: world.ids.alice,
        actionId: 'approval.approve',
        value: requestId,
        ts,
        responseId: 'self',
      }),
    );
    expect(res.status).toBe(200);
    await world.slackApp.idle();
    const [answer] = world.slack.responses('self');
    expect(answer).toMatchObject({ response_type: 'ephemeral', replace_original: false });
    expect(String(answer!.text)).toMatch(/you opened request #\d+, so someone else must decide it/);
    const after = await counts();
    expect(after.decisions).toBe(before.decisions);
    expect(world.slack.callsTo('chat.update')).toHaveLength(0);
  });

  it('refuses a click by someone without the permission privately', async () => {
    const { ts, requestId } = await openRequest();
    const res = await world.interactive(
      clickPayload(world, {
        user: world.ids.carol,
        actionId: 'approval.deny',
        value: requestId,
        ts,
        responseId: 'carol',
      }),
    );
    expect(res.status).toBe(200);
    await world.slackApp.idle();
    expect(String(world.slack.responses('carol')[0]?.text)).toMatch(
      /you cannot decide request #\d+: it needs the users:manage permission/,
    );
    const [row] = await db.current.sql<{ n: number }[]>`
      select count(*)::int as n from approval_decisions where request_id = ${Number(requestId)}`;
    expect(row!.n).toBe(0);
  });

  it('counts a double click once and explains the second one privately', async () => {
    const { ts, requestId } = await openRequest();
    const first = clickPayload(world, {
      user: world.ids.bob,
      actionId: 'approval.approve',
      value: requestId,
      ts,
      responseId: 'one',
    });
    const second = clickPayload(world, {
      user: world.ids.bob,
      actionId: 'approval.approve',
      value: requestId,
      ts,
      responseId: 'two',
    });
    const [a, b] = await Promise.all([world.interactive(first), world.interactive(second)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    await world.slackApp.idle();
    const [row] = await db.current.sql<{ n: number }[]>`
      select count(*)::int as n from approval_decisions where request_id = ${Number(requestId)}`;
    expect(row!.n).toBe(1);
    const privately = [...world.slack.responses('one'), ...world.slack.responses('two')];
    expect(privately).toHaveLength(1);
    expect(String(privately[0]!.text)).toMatch(/already|approved/i);
  });

  it('shows the details privately without changing the message', async () => {
    const { ts, requestId } = await openRequest();
    await world.interactive(
      clickPayload(world, {
        user: world.ids.carol,
        actionId: 'approval.details',
        value: requestId,
        ts,
        responseId: 'd',
      }),
    );
    await world.slackApp.idle();
    const [answer] = world.slack.responses('d');
    expect(answer).toMatchObject({ response_type: 'ephemeral' });
    expect(blocksText(answer!.blocks)).toContain('Who may decide');
    expect(world.slack.callsTo('chat.update')).toHaveLength(0);
  });
});
