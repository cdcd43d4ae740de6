import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { App, LogLevel } from '@slack/bolt';
import { startWarden } from '../../bot/main.js';
import { loadConfig } from '../../lib/config.js';
import { createLogger } from '../../lib/logger.js';
import { connect, type Sql, targetFromUrl } from '../../storage/db.js';
import type { LoadJob, LoadResult } from './load.js';

/**
 * Slack acknowledgement latency of the real Warden server (hono + Bolt + PostgreSQL), under
 * signed block_actions clicks at a fixed rate, against a bare Bolt app that only acks (the
 * floor). Every click approves a different pending request; afterwards the database is counted
 * to prove no click was lost or doubled.
 *
 *   npx tsx bench/slack-ack/run.ts [--rate 200] [--duration 30] [--approvers 20] [--action approve|details] [--keep]
 *
 * With --saturation it instead raises the rate of Details clicks step by step (--steps, each
 * --step-seconds long), for Warden and then for the floor, and reports the highest rate each
 * acknowledged within the budget (p99 under 50 ms, no error) and within Slack's 3 s.
 */
const { values: opts } = parseArgs({
  options: {
    rate: { type: 'string', default: '200' },
    duration: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '3' },
    approvers: { type: 'string', default: '20' },
    keep: { type: 'boolean', default: false },
    // 'approve' decides a request per click; 'details' only reads, isolating the acknowledgement path.
    action: { type: 'string', default: 'approve' },
    saturation: { type: 'boolean', default: false },
    steps: { type: 'string', default: '200,400,800,1200,1600,2400,3200,4800,6400' },
    'step-seconds': { type: 'string', default: '3' },
  },
});
const RATE = Number(opts.rate);
const DURATION_S = Number(opts.duration);
const WARMUP_S = Number(opts.warmup);
const APPROVERS = Number(opts.approvers);
const ACTION = opts.action === 'details' ? 'details' : 'approve';
const STEPS = String(opts.steps)
  .split(',')
  .map(Number)
  .filter((n) => Number.isFinite(n) && n > 0);
const STEP_S = Number(opts['step-seconds']);
// In a saturation run the clicks are Details clicks on these requests, round-robin.
const CLICKS = opts.saturation ? 200 : Math.round(RATE * DURATION_S);
const WARMUP = Math.round(RATE * WARMUP_S);
const SECRET = randomBytes(16).toString('hex');
const CHANNEL = 'C0BENCH';
const BASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

function child(file: string): ChildProcess {
  return fork(here(file), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

function ask<T>(proc: ChildProcess, message: unknown, answer?: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (reply: { type?: string }) => {
      if (answer && reply.type !== answer) return;
      proc.off('message', on);
      resolve(reply as T);
    };
    proc.on('message', on);
    if (message !== undefined) proc.send(message as never);
  });
}

/** One generator process per server measured, so the warm-up also warms the generator. */
function generator(): { load(job: LoadJob): Promise<LoadResult>; stop(): void } {
  const proc = child('./load.ts');
  return { load: (job) => ask<LoadResult>(proc, job), stop: () => proc.disconnect() };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function summarise(result: LoadResult) {
  const ok = result.latencies.filter((l) => l >= 0).sort((a, b) => a - b);
  return {
    p50: percentile(ok, 50),
    p99: percentile(ok, 99),
    max: ok[ok.length - 1] ?? Number.NaN,
    errors: result.errors,
    achieved: (result.statuses.length / result.elapsedMs) * 1000,
    lag: result.maxSendLagMs,
  };
}

const ms = (n: number) => n.toFixed(2);

/**
 * How late the server's event loop ran timers while the load ran (both servers run in this
 * process): a request arriving during a long synchronous stretch waits at least that long.
 */
function loopDelay(): { stop(): string } {
  const h = monitorEventLoopDelay({ resolution: 1 });
  const started = performance.eventLoopUtilization();
  h.enable();
  return {
    stop() {
      h.disable();
      const used = performance.eventLoopUtilization(started);
      const at = (p: number) => ms(h.percentile(p) / 1e6);
      return `utilisation ${(used.utilization * 100).toFixed(0)}%, delay p50 ${at(50)} / p99 ${at(99)} / max ${ms(h.max / 1e6)} ms`;
    },
  };
}

function click(input: {
  trigger: string;
  actionId: string;
  requestId: number;
  approver: string;
  ts: string;
  responseUrl: string;
}) {
  const payload = {
    type: 'block_actions',
    user: { id: input.approver, username: input.approver.toLowerCase(), team_id: 'T0FAKE001' },
    api_app_id: 'A0APP0001',
    team: { id: 'T0FAKE001', domain: 'fake' },
    trigger_id: input.trigger,
    response_url: input.responseUrl,
    container: { type: 'message', message_ts: input.ts, channel_id: CHANNEL, is_ephemeral: false },
    channel: { id: CHANNEL, name: 'bench-approvals' },
    message: { ts: input.ts, type: 'message' },
    actions: [
      {
        type: 'button',
        action_id: input.actionId,
        block_id: 'b',
        value: String(input.requestId),
        action_ts: input.ts,
      },
    ],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

async function seed(sql: Sql, ts: string[], approvers: { id: string; email: string }[]) {
  const now = new Date();
  const [project] = await sql<{ id: number }[]>`
    insert into projects (slug, name, channels) values ('bench', 'Bench', ${sql.json({ slack: CHANNEL })}) returning id`;
  const projectId = project!.id;
  for (const [i, a] of approvers.entries()) {
    const [u] = await sql<{ id: number }[]>`
      insert into users (handle, display_name, email) values (${`bench-a${i}`}, ${`Approver ${i}`}, ${a.email}) returning id`;
    await sql`insert into role_bindings (user_id, role, project_id) values (${u!.id}, 'admin', null)`;
  }
  // One requester and one pending role request per click: each click approves its own request.
  const requesters = await sql<{ id: number }[]>`
    insert into users (handle, display_name)
    select 'bench-r' || g, 'Requester ' || g from generate_series(1, ${ts.length}) g returning id`;
  const ids: number[] = [];
  for (let start = 0; start < requesters.length; start += 1000) {
    const rows = requesters.slice(start, start + 1000).map((r) => ({
      subject_type: 'role-request',
      subject_id: `${r.id}:approver:${projectId}`,
      project_id: projectId,
      requester_id: r.id,
      permission: 'users:manage',
      title: `approver on bench for bench-r${r.id}`,
      details: {
        fields: [{ label: 'Role', value: 'approver' }],
        data: { userId: r.id, role: 'approver', projectId },
      },
      expires_at: new Date(now.getTime() + 86_400_000),
      created_at: now,
    }));
    const inserted = await sql<{ id: number }[]>`insert into approval_requests ${sql(rows)} returning id`;
    ids.push(...inserted.map((r) => r.id));
  }
  const refs = ids.map((id, i) => ({
    subject_type: 'approval',
    subject_id: String(id),
    platform: 'slack',
    channel: CHANNEL,
    message_id: ts[i]!,
    created_at: now,
  }));
  for (let start = 0; start < refs.length; start += 1000) {
    await sql`insert into message_refs ${sql(refs.slice(start, start + 1000))}`;
  }
  return ids;
}

interface Step {
  rate: number;
  p50: number;
  p99: number;
  errors: number;
  achieved: number;
  lag: number;
}

/** Under Slack's 3 s, with no error and the offered rate actually sent and answered. */
function acknowledged(step: Step): boolean {
  return step.errors === 0 && step.p99 < 3000 && step.achieved >= 0.9 * step.rate;
}

/** Within the budget: p99 under 50 ms as well. */
function withinBudget(step: Step): boolean {
  return acknowledged(step) && step.p99 < 50;
}

/**
 * Details clicks at each rate of STEPS in turn, STEP_S seconds each with a pause between, until
 * a step misses Slack's 3 s (further steps would only pile up more backlog).
 */
async function ramp(
  label: string,
  url: string,
  bodiesAt: (rate: number, count: number) => Promise<string[]>,
  warmup: string[],
): Promise<Step[]> {
  const load = generator();
  const steps: Step[] = [];
  try {
    await load.load({ url, rate: RATE, signingSecret: SECRET, bodies: warmup });
    for (const rate of STEPS) {
      const bodies = await bodiesAt(rate, Math.round(rate * STEP_S));
      const s = summarise(await load.load({ url, rate, signingSecret: SECRET, bodies }));
      const step = { rate, ...s };
      steps.push(step);
      console.log(
        `${label} at ${rate}/s: p50 ${ms(step.p50)} ms, p99 ${ms(step.p99)} ms, errors ${step.errors}, ` +
          `achieved ${step.achieved.toFixed(0)}/s, generator lag ${ms(step.lag)} ms`,
      );
      if (!acknowledged(step)) break;
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }
  } finally {
    load.stop();
  }
  return steps;
}

/** The highest rate that passed (a noisy step below it does not hide it; each is printed). */
function highest(steps: Step[], ok: (s: Step) => boolean): number {
  return Math.max(0, ...steps.filter(ok).map((s) => s.rate));
}

async function startFloor(): Promise<{ url: string; stop(): Promise<void> }> {
  const app = new App({
    signingSecret: SECRET,
    token: 'xoxb-test',
    // Known ids: the floor makes no Web API call at all.
    botId: 'B0BOT0001',
    botUserId: 'U0BOT0001',
    logLevel: LogLevel.ERROR,
  });
  app.action(/.*/, async ({ ack }) => {
    await ack();
  });
  const server = (await app.start({ port: 0, host: '127.0.0.1' })) as import('node:http').Server;
  const address = server.address() as import('node:net').AddressInfo;
  return { url: `http://127.0.0.1:${address.port}/slack/events`, stop: () => app.stop() as Promise<void> };
}

async function main() {
  const dbName = `bench_slack_${randomBytes(4).toString('hex')}`;
  const admin = connect(targetFromUrl(BASE_URL), { max: 1 });
  await admin.unsafe(`create database ${dbName}`);
  const dbUrl = new URL(BASE_URL);
  dbUrl.pathname = `/${dbName}`;

  const approvers = Array.from({ length: APPROVERS }, (_, i) => ({
    id: `U0APPR${i}`,
    name: `approver${i}`,
    email: `bench-a${i}@bench.example`,
  }));
  const fake = child('./fake.ts');
  const { url: slackUrl } = await ask<{ url: string }>(
    fake,
    { signingSecret: SECRET, channel: CHANNEL, approvers },
    'ready',
  );
  const { ts } = await ask<{ ts: string[] }>(
    fake,
    { type: 'seed', channel: CHANNEL, count: CLICKS },
    'seeded',
  );
  const { urls } = await ask<{ urls: string[] }>(
    fake,
    // One per click, then one per warm-up click (more warm-up clicks than messages reuse them).
    {
      type: 'responseUrls',
      channel: CHANNEL,
      messages: [...ts, ...Array.from({ length: WARMUP }, (_, i) => ts[i % ts.length]!)],
    },
    'responseUrls',
  );

  const config = loadConfig({
    DATABASE_URL: dbUrl.toString(),
    PORT: '0',
    HOST: '127.0.0.1',
    WARDEN_MASTER_KEY: randomBytes(32).toString('base64'),
    WARDEN_ADMINS: 'admin@bench.example',
    LOG_LEVEL: 'error',
    SLACK_BOT_TOKEN: 'xoxb-test',
    SLACK_SIGNING_SECRET: SECRET,
    SLACK_API_URL: slackUrl,
  });
  const warden = await startWarden({ config, log: createLogger('error') });
  const requestIds = await seed(warden.deps.sql, ts, approvers);
  const target = `http://127.0.0.1:${warden.port}/slack/events`;
  console.log(
    opts.saturation
      ? `warden on ${target}; Details clicks at ${STEPS.join(', ')}/s, ${STEP_S} s each, then the floor`
      : `warden on ${target}; ${requestIds.length} pending requests, ${APPROVERS} approvers; ${RATE}/s for ${DURATION_S} s of approval.${ACTION} clicks`,
  );

  const warmupBodies = Array.from({ length: WARMUP }, (_, i) =>
    click({
      trigger: `bench.warm.${i}`,
      actionId: 'approval.details',
      requestId: requestIds[i % requestIds.length]!,
      approver: approvers[i % APPROVERS]!.id,
      ts: ts[i % ts.length]!,
      responseUrl: urls[CLICKS + i]!,
    }),
  );
  const bodies = requestIds.map((requestId, i) =>
    click({
      trigger: `bench.main.${i}`,
      actionId: `approval.${ACTION}`,
      requestId,
      approver: approvers[i % APPROVERS]!.id,
      ts: ts[i]!,
      responseUrl: urls[i]!,
    }),
  );
  /** What the fake Slack saw, in one line: calls by method, unexpected calls, limit violations. */
  const fakeReport = async () => {
    const seen = await ask<{ byMethod: Record<string, number>; unexpected: number; violations: string[] }>(
      fake,
      { type: 'stats' },
      'stats',
    );
    return `fake slack: ${JSON.stringify(seen.byMethod)}, unexpected ${seen.unexpected}, violations ${seen.violations.length}`;
  };
  const cleanUp = async () => {
    fake.send({ type: 'stop' });
    if (!opts.keep) await admin.unsafe(`drop database ${dbName} with (force)`);
    else console.log(`kept database ${dbName}`);
    await admin.end();
  };

  if (opts.saturation) {
    let round = 0;
    const detailsAt = (prefix: string) => async (rate: number, count: number) => {
      round++;
      const messages = Array.from({ length: count }, (_, i) => ts[i % ts.length]!);
      const { urls: fresh } = await ask<{ urls: string[] }>(
        fake,
        { type: 'responseUrls', channel: CHANNEL, messages, prefix: `sat${round}` },
        'responseUrls',
      );
      return messages.map((messageTs, i) =>
        click({
          trigger: `${prefix}.sat.${rate}.${i}`,
          actionId: 'approval.details',
          requestId: requestIds[i % requestIds.length]!,
          approver: approvers[i % APPROVERS]!.id,
          ts: messageTs,
          responseUrl: fresh[i]!,
        }),
      );
    };
    const wardenSteps = await ramp('warden', target, detailsAt('bench'), warmupBodies);
    await warden.stop();
    console.log(await fakeReport());
    const floor = await startFloor();
    const floorSteps = await ramp(
      'floor',
      floor.url,
      detailsAt('floor'),
      warmupBodies.map((b) => b.replace('bench.warm.', 'floor.warm.')),
    );
    await floor.stop();
    await cleanUp();
    const [w50, w3s, f50, f3s] = [
      highest(wardenSteps, withinBudget),
      highest(wardenSteps, acknowledged),
      highest(floorSteps, withinBudget),
      highest(floorSteps, acknowledged),
    ];
    console.log(
      `slack-ack saturation steps=${STEPS.join(',')} step_s=${STEP_S} warden_p99_under_50ms=${w50}/s ` +
        `warden_under_3s=${w3s}/s floor_p99_under_50ms=${f50}/s floor_under_3s=${f3s}/s`,
    );
    return;
  }

  const toWarden = generator();
  await toWarden.load({ url: target, rate: RATE, signingSecret: SECRET, bodies: warmupBodies });
  const wardenLoop = loopDelay();
  const result = await toWarden.load({ url: target, rate: RATE, signingSecret: SECRET, bodies });
  const wardenBusy = wardenLoop.stop();
  toWarden.stop();
  const warden99 = summarise(result);
  const failures = result.statuses.filter((st) => st !== 200);
  if (failures.length > 0)
    console.log(`warden non-200 answers (status 0: connection error): ${failures.join(', ')}`);
  // Stop waits for the work that follows each acknowledgement (decisions, chat.update).
  const draining = performance.now();
  await warden.stop();
  const drainMs = performance.now() - draining;

  const sql = connect(targetFromUrl(dbUrl.toString()), { max: 2 });
  const recorded = await sql<{ trigger: string; n: number }[]>`
    select split_part(dedupe_key, ':', 2) as trigger, count(*)::int as n from interactions
    where platform = 'slack' and kind = 'action' and dedupe_key like 'action:bench.main.%' group by 1`;
  const decisions = await sql<{ requestId: number; n: number }[]>`
    select request_id as "requestId", count(*)::int as n from approval_decisions group by 1`;
  const [statuses] = await sql<{ approved: number; failed: number }[]>`
    select (select count(*) from approval_requests where status = 'approved')::int as approved,
           (select count(*) from interactions where status = 'failed' and dedupe_key like 'action:bench.main.%')::int as failed`;
  const seen = new Map(recorded.map((r) => [r.trigger, r.n]));
  const decided = new Map(decisions.map((d) => [d.requestId, d.n]));
  let lost = 0;
  let doubled = 0;
  result.statuses.forEach((status, i) => {
    if (status !== 200) return;
    const times = seen.get(`bench.main.${i}`) ?? 0;
    const votes = decided.get(requestIds[i]!) ?? 0;
    if (times === 0 || (ACTION === 'approve' && votes === 0)) lost++;
    if (times > 1 || votes > 1) doubled++;
  });
  await sql.end();
  const fakeLine = await fakeReport();

  const floor = await startFloor();
  const toFloor = generator();
  await toFloor.load({
    url: floor.url,
    rate: RATE,
    signingSecret: SECRET,
    bodies: warmupBodies.map((b) => b.replace('bench.warm.', 'floor.warm.')),
  });
  const floorLoop = loopDelay();
  const floorResult = await toFloor.load({
    url: floor.url,
    rate: RATE,
    signingSecret: SECRET,
    bodies: bodies.map((b) => b.replace('bench.main.', 'floor.main.')),
  });
  const floorBusy = floorLoop.stop();
  toFloor.stop();
  await floor.stop();
  const floor99 = summarise(floorResult);

  await cleanUp();

  console.log(
    `warden: p50 ${ms(warden99.p50)} ms, p99 ${ms(warden99.p99)} ms, max ${ms(warden99.max)} ms, errors ${warden99.errors}, ` +
      `achieved ${warden99.achieved.toFixed(0)}/s, generator lag ${ms(warden99.lag)} ms`,
  );
  console.log(
    `warden db: ${recorded.length} clicks recorded, ${statuses!.approved} requests approved, ${statuses!.failed} refused; ` +
      `the work behind the acknowledgements finished ${(drainMs / 1000).toFixed(1)} s after the last click ` +
      `(${((recorded.length / (result.elapsedMs + drainMs)) * 1000).toFixed(0)} clicks fully handled per second)`,
  );
  console.log(fakeLine);
  console.log(
    `floor (bare Bolt, ack only): p50 ${ms(floor99.p50)} ms, p99 ${ms(floor99.p99)} ms, max ${ms(floor99.max)} ms, errors ${floor99.errors}`,
  );
  console.log(`event loop of the server under test: warden ${wardenBusy}; floor ${floorBusy}`);
  console.log(`ratio p99 warden/floor: ${(warden99.p99 / floor99.p99).toFixed(2)}`);
  console.log(
    `slack-ack rate=${RATE} p50_ms=${ms(warden99.p50)} p99_ms=${ms(warden99.p99)} lost=${lost} doubled=${doubled} floor_p99_ms=${ms(floor99.p99)}`,
  );
}

await main();
