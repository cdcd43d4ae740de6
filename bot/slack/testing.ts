import { Hono } from 'hono';
import { createApprovalSubjects } from '../../commands/approvals/subjects.js';
import { createRegistry } from '../../commands/index.js';
import type { CommandSpec, FormSpec, Registry } from '../../commands/registry.js';
import { createOutboxWorker, type OutboxWorker } from '../../jobs/outbox-worker.js';
import { silentLogger } from '../../lib/logger.js';
import type { Sql } from '../../storage/db.js';
import { bindRole, createUser } from '../../storage/users.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { type FakeSlack, startFakeSlack, type UserInput } from '../../test/fakes/slack.js';
import type { AppEnv } from '../http/context.js';
import { createErrorHandler } from '../http/errors.js';
import { createHealthRoutes } from '../http/health.js';
import { requestId } from '../http/request-id.js';
import type { SlackConfig } from './config.js';
import { createSlackApp, type SlackApp, type SlackAppOptions } from './index.js';
import { signSlackRequest } from './verify.js';

/**
 * A Slack world for the adapter's tests: the strict fake workspace, Warden's HTTP app with the
 * Slack routes, an outbox worker delivering to Slack, and helpers that send signed requests.
 */
export const SIGNING_SECRET = 'testsigningsecret0123456789abcdef';
export const CHANNEL = 'C0APPROVE';

export interface SlackWorld {
  slack: FakeSlack;
  deps: TestDeps;
  app: Hono<AppEnv>;
  slackApp: SlackApp;
  worker: OutboxWorker;
  projectId: number;
  projectSlug: string;
  users: { alice: number; bob: number; carol: number };
  /** Slack user ids, unique to this world (identities link once per database). */
  ids: { alice: string; bob: string; carol: string; stranger: string };
  /** POST a raw body to /slack/events, signed now (or at `ts`) with the signing secret (or `secret`). */
  send(raw: string, options?: SendOptions): Promise<Response>;
  /** A signed slash command, by Alice unless `user` (a Slack id) says otherwise. */
  command(text: string, user?: string, extra?: Record<string, string>): Promise<Response>;
  interactive(payload: Record<string, unknown>, options?: SendOptions): Promise<Response>;
  event(body: Record<string, unknown>, options?: SendOptions): Promise<Response>;
  stop(): Promise<void>;
}

export interface SendOptions {
  contentType?: string;
  ts?: number;
  secret?: string;
  headers?: Record<string, string>;
}

let counter = 0;
export function nextId(prefix: string): string {
  counter += 1;
  return `${prefix}${counter}`;
}

/** Commands of the tests' own: a form (modal) and a reply far bigger than one Slack message. */
const testCommands: CommandSpec[] = [
  {
    path: ['test', 'form'],
    usage: 'test form',
    summary: 'Open a form with a server picker, a duration and a reason.',
    maxPositional: 0,
    async run() {
      return {
        reply: {
          visibility: 'private',
          form: {
            id: 'test-access',
            title: 'Request access to a server for a while',
            submitLabel: 'Request',
            state: 'state-42',
            fields: [
              { id: 'server', label: 'Server', kind: 'server', required: true },
              { id: 'duration', label: 'For how long', kind: 'duration', required: true, placeholder: '2h' },
              { id: 'reason', label: 'Why', kind: 'textarea', required: true },
            ],
          },
        },
      };
    },
  },
  {
    path: ['test', 'huge'],
    usage: 'test huge',
    summary: 'A public reply far over every Block Kit limit.',
    maxPositional: 0,
    async run() {
      return {
        reply: {
          visibility: 'public',
          header: `Huge ${'h'.repeat(400)}`,
          text: 'x'.repeat(9_000),
          fields: Array.from({ length: 37 }, (_, i) => ({ label: `field ${i}`, value: 'v'.repeat(2_500) })),
          items: Array.from({ length: 1_000 }, (_, i) => ({
            text: `item <${i}> & ${'i'.repeat(80)}`,
            detail: 'd',
          })),
          buttons: Array.from({ length: 30 }, (_, i) => ({
            label: `Button ${i} ${'b'.repeat(100)}`,
            actionId: `test.b${i}`,
            value: String(i),
          })),
          context: Array.from({ length: 14 }, (_, i) => `context ${i} ${'c'.repeat(3_500)}`),
          moreUrl: 'https://warden.example.com/servers',
        },
      };
    },
  },
];

const testForms: FormSpec[] = [
  {
    prefix: 'test-access',
    async run(form) {
      if (form.values.server !== 'web-01')
        return { fieldErrors: { server: `there is no server ${form.values.server}` } };
      return {
        reply: {
          visibility: 'private',
          tone: 'success',
          text: `Requested ${form.values.server} for ${form.values.duration} (state ${form.state}).`,
        },
      };
    },
  },
];

export function slackTestRegistry(): Registry {
  const base = createRegistry();
  return {
    commands: [...base.commands, ...testCommands],
    actions: base.actions,
    forms: [...base.forms, ...testForms],
  };
}

/** The adapter half of a Slack world: the fake workspace, the HTTP app, the outbox worker, signed senders. */
export interface SlackAdapterHarness {
  slack: FakeSlack;
  app: Hono<AppEnv>;
  slackApp: SlackApp;
  worker: OutboxWorker;
  send(raw: string, options?: SendOptions): Promise<Response>;
  /** A signed slash command by `user` (a Slack id) in `channel` (default CHANNEL). */
  command(text: string, user: string, extra?: Record<string, string>): Promise<Response>;
  interactive(payload: Record<string, unknown>, options?: SendOptions): Promise<Response>;
  event(body: Record<string, unknown>, options?: SendOptions): Promise<Response>;
  stop(): Promise<void>;
}

/**
 * Starts the fake workspace with `users` and the approvals channel, and Warden's Slack adapter on
 * `deps` and `registry`, mounted the way bot/app.ts mounts it.
 */
export async function startSlackAdapter(
  sql: Sql,
  deps: TestDeps,
  registry: Registry,
  options: SlackAppOptions & {
    users: UserInput[];
    mode?: 'http' | 'socket';
    channelMember?: boolean;
    appToken?: string;
  },
): Promise<SlackAdapterHarness> {
  const slack = await startFakeSlack({
    signingSecret: SIGNING_SECRET,
    channels: [{ id: CHANNEL, name: 'approvals', isMember: options.channelMember ?? true }],
    users: options.users,
  });
  // Outbox items an earlier test left pending belong to that test's fake Slack, not this one.
  await sql`update outbox set status = 'dead' where status = 'pending'`;
  const mode = options.mode ?? 'http';
  const config: SlackConfig = {
    mode,
    botToken: 'xoxb-test',
    signingSecret: SIGNING_SECRET,
    appToken: mode === 'socket' ? (options.appToken ?? 'xapp-test') : undefined,
    apiUrl: slack.url,
    defaultChannel: undefined,
  };
  const slackApp = createSlackApp(config, deps, registry, options);
  // The same middlewares and mounts as bot/app.ts, without the REST API this adapter does not need.
  const app = new Hono<AppEnv>();
  app.use('*', requestId(deps.log));
  app.onError(createErrorHandler(deps.log));
  app.route('/', createHealthRoutes(sql, { extra: slackApp.readiness }));
  app.route('/slack', slackApp.routes);
  const worker = createOutboxWorker({
    sql,
    clock: deps.clock,
    log: silentLogger(),
    deliverers: { slack: slackApp.deliverer },
    // A fixed second, so a failed item waits for the (fake) clock instead of retrying within one drain.
    backoff: () => 1_000,
  });

  async function send(raw: string, o: SendOptions = {}): Promise<Response> {
    const ts = o.ts ?? Math.floor(deps.clock.now().getTime() / 1000);
    return app.request('/slack/events', {
      method: 'POST',
      headers: {
        'content-type': o.contentType ?? 'application/x-www-form-urlencoded',
        'x-slack-request-timestamp': String(ts),
        'x-slack-signature': signSlackRequest(o.secret ?? SIGNING_SECRET, raw, ts),
        ...o.headers,
      },
      body: raw,
    });
  }

  return {
    slack,
    app,
    slackApp,
    worker,
    send,
    command(text, user, extra = {}) {
      const form = new URLSearchParams({
        command: '/warden',
        text,
        user_id: user,
        user_name: slack.state.users.get(user)?.name ?? user.replace(/^U\d+/, '').toLowerCase(),
        channel_id: CHANNEL,
        team_id: slack.state.teamId,
        response_url: slack.responseUrl(nextId('cmd-')),
        trigger_id: slack.newTriggerId(),
        ...extra,
      });
      return send(form.toString());
    },
    interactive(payload, o) {
      return send(new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), o);
    },
    event(body, o) {
      return send(JSON.stringify(body), { contentType: 'application/json', ...o });
    },
    async stop() {
      await slackApp.stop();
      await worker.stop();
      await slack.stop();
    },
  };
}

export async function startSlackWorld(
  sql: Sql,
  options: SlackAppOptions & { mode?: 'http' | 'socket'; channelMember?: boolean; appToken?: string } = {},
): Promise<SlackWorld> {
  const tag = nextId('');
  const ids = {
    alice: `U${tag}ALICE`,
    bob: `U${tag}BOB`,
    carol: `U${tag}CAROL`,
    stranger: `U${tag}STRANGER`,
  };
  const deps = createTestDeps(sql, { chatPlatforms: ['slack'], approvalSubjects: createApprovalSubjects() });
  const harness = await startSlackAdapter(sql, deps, slackTestRegistry(), {
    ...options,
    users: [
      { id: ids.alice, name: 'alice', email: `alice${tag}@example.com` },
      // Slack keeps the address as typed; Warden compares it without case.
      { id: ids.bob, name: 'bob', email: `BOB${tag}@Example.com` },
      { id: ids.carol, name: 'carol', email: `carol${tag}@example.com` },
      { id: ids.stranger, name: 'stranger', email: `stranger${tag}@example.org` },
    ],
  });
  const slug = `demo-${tag}`;
  const [project] = await sql<{ id: number }[]>`
    insert into projects (slug, name, channels) values (${slug}, 'Demo', ${sql.json({ slack: CHANNEL })})
    returning id`;
  const projectId = project!.id;
  const alice = await createUser(sql, {
    handle: `alice${tag}`,
    displayName: 'Alice',
    email: `alice${tag}@example.com`,
  });
  const bob = await createUser(sql, {
    handle: `bob${tag}`,
    displayName: 'Bob',
    email: `bob${tag}@example.com`,
  });
  const carol = await createUser(sql, {
    handle: `carol${tag}`,
    displayName: 'Carol',
    email: `carol${tag}@example.com`,
  });
  await bindRole(sql, { userId: alice.id, role: 'operator', projectId });
  await bindRole(sql, { userId: carol.id, role: 'operator', projectId });
  await bindRole(sql, { userId: bob.id, role: 'admin', projectId: null });

  return {
    ...harness,
    deps,
    projectId,
    projectSlug: slug,
    users: { alice: alice.id, bob: bob.id, carol: carol.id },
    ids,
    command: (text, user = ids.alice, extra = {}) => harness.command(text, user, extra),
  };
}

/** `user` opens the Home tab (app_home_opened); returns the view Warden published for them. */
export async function openHome(
  world: Pick<SlackWorld, 'event' | 'slack' | 'slackApp'>,
  user: string,
): Promise<Record<string, unknown> | undefined> {
  const res = await world.event({
    type: 'event_callback',
    team_id: world.slack.state.teamId,
    event_id: nextId('EvHome'),
    event: { type: 'app_home_opened', user, channel: 'D0X', tab: 'home' },
  });
  if (res.status !== 200) throw new Error(`app_home_opened answered ${res.status}`);
  await world.slackApp.idle();
  return world.slack.state.homeViews.get(user)?.view as Record<string, unknown> | undefined;
}

/** A block_actions payload as Slack sends it for a click on a message button. */
export function clickPayload(
  world: Pick<SlackWorld, 'slack'>,
  input: { user: string; actionId: string; value: string; ts: string; responseId?: string },
): Record<string, unknown> {
  const responseId = input.responseId ?? nextId('click-');
  return {
    type: 'block_actions',
    user: {
      id: input.user,
      username: input.user.replace(/^U\d+/, '').toLowerCase(),
      team_id: world.slack.state.teamId,
    },
    api_app_id: world.slack.state.appId,
    team: { id: world.slack.state.teamId, domain: 'fake' },
    trigger_id: world.slack.newTriggerId(),
    response_url: world.slack.responseUrl(responseId, { channel: CHANNEL, ts: input.ts }),
    container: { type: 'message', message_ts: input.ts, channel_id: CHANNEL, is_ephemeral: false },
    channel: { id: CHANNEL, name: 'approvals' },
    message: { ts: input.ts, type: 'message' },
    actions: [
      {
        type: 'button',
        action_id: input.actionId,
        block_id: 'b1',
        value: input.value,
        action_ts: '1700000000.000001',
      },
    ],
  };
}
