import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { accessApprovalSubjects } from '../commands/access/subjects.js';
import { createAccessDeliverer } from '../commands/access/work.js';
import { createApprovalSubjects } from '../commands/approvals/subjects.js';
import { createRemediationDeliverer, remediationSubject } from '../commands/baselines/remediate.js';
import type { Deps } from '../commands/deps.js';
import { homeCompliance, homeGrants } from '../commands/home.js';
import { createRegistry } from '../commands/index.js';
import { startInteractionHeartbeat, sweepInterruptedInteractions } from '../commands/interrupted.js';
import { resumeInterruptedRuns } from '../commands/patching/resume.js';
import { patchRestoreSubject } from '../commands/patching/rollback.js';
import { patchApprovalSubjects } from '../commands/patching/subjects.js';
import { createReportMailDeliverer } from '../commands/reports/email.js';
import { createCloudProviders } from '../commands/scanning/providers.js';
import { sweepInterruptedScans } from '../commands/scanning/sweep.js';
import { createTargetFactory } from '../commands/scanning/target-factory.js';
import { sweepInterruptedRuns } from '../commands/scripts/cancel.js';
import { scriptRunSubject } from '../commands/scripts/run-subject.js';
import { createScriptRunner } from '../commands/scripts/runner.js';
import { scriptVersionSubject } from '../commands/scripts/versions.js';
import { createWebhookDeliverer } from '../commands/webhooks/deliver.js';
import { createMailer } from '../integrations/mail/index.js';
import {
  createTicketDeliverer,
  createTicketHooks,
  createTicketSystem,
} from '../integrations/tickets/index.js';
import { approvalsSweepJob } from '../jobs/approvals-sweep.js';
import { baselineDueJob } from '../jobs/baseline-due.js';
import { complianceDigestJob } from '../jobs/compliance-digest.js';
import { complianceEvaluateJob } from '../jobs/compliance-evaluate.js';
import { discoveryJob } from '../jobs/discovery.js';
import { grantsExpireJob } from '../jobs/grants-expire.js';
import { interactionsSweepJob } from '../jobs/interactions-sweep.js';
import { keysRotateJob } from '../jobs/keys-rotate.js';
import { outboxDrainJob } from '../jobs/outbox-drain.js';
import { createOutboxWorker, type Deliverer } from '../jobs/outbox-worker.js';
import { patchAutoApproveJob } from '../jobs/patch-auto-approve.js';
import { patchHeadsUpJob } from '../jobs/patch-heads-up.js';
import { patchResumeJob, patchRunJob } from '../jobs/patch-run.js';
import { patchWindowJob } from '../jobs/patch-window.js';
import { reportsEmailJob } from '../jobs/reports-email.js';
import { scanDueJob } from '../jobs/scan-project.js';
import { createScheduler, type Scheduler } from '../jobs/scheduler.js';
import { scriptRunsSweepJob } from '../jobs/script-runs-sweep.js';
import { type Clock, systemClock } from '../lib/clock.js';
import { type Config, ConfigError, decodeKey } from '../lib/config.js';
import { createVault } from '../lib/crypto.js';
import { AppError } from '../lib/errors.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { connect, type DbTarget, type Sql, targetFromUrl } from '../storage/db.js';
import { startEmbedded } from '../storage/embedded.js';
import { migrate } from '../storage/migrate.js';
import { seed } from '../storage/seed.js';
import { createApp } from './app.js';
import { createChatDeliverer } from './chat/deliver.js';
import type { Platform } from './chat/model.js';
import { createConsolePlatform } from './console/platform.js';
import { createConsoleRoutes } from './console/routes.js';
import { createDashboardRoutes } from './dashboard/routes.js';
import type { AppEnv } from './http/context.js';
import { createSlackApp, createSlackChat } from './slack/index.js';
import { createTeamsApp, createTeamsChat } from './teams/index.js';

/**
 * Start-up and shutdown of one Warden process: database (embedded PGlite or PostgreSQL),
 * migrations, seed, the outbox worker, the scheduler and the HTTP server, in that order;
 * stop() takes them down in the reverse order.
 */
export interface WardenOptions {
  config: Config;
  log?: Logger;
  clock?: Clock;
}

export interface Warden {
  /** Where it listens, with the real port (PORT=0 picks a free one). */
  url: string;
  port: number;
  deps: Deps;
  /** Graceful: stop taking requests, let running jobs and deliveries finish, close the database. */
  stop(): Promise<void>;
}

export interface Database {
  target: DbTarget;
  sql: Sql;
  /** Migrations this open applied (empty when the schema was up to date). */
  applied: string[];
  close(): Promise<void>;
}

const MASTER_KEY_FILE = 'master.key';

/**
 * The embedded mode's master key: `<dataDir>/master.key`, created (0600) on first start when
 * WARDEN_MASTER_KEY is not set. Losing it loses every stored secret, hence the warning.
 */
export function loadOrCreateMasterKey(dataDir: string, log: Logger): string {
  const file = path.join(dataDir, MASTER_KEY_FILE);
  if (existsSync(file)) {
    const key = readFileSync(file, 'utf8').trim();
    decodeKey(key, file);
    return key;
  }
  const key = randomBytes(32).toString('base64');
  writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  log.warn(
    { file },
    `WARNING: generated a new master key in ${file}. It encrypts every secret Warden stores: back it up. ` +
      'In production, set WARDEN_MASTER_KEY (or WARDEN_MASTER_KEY_FILE) instead.',
  );
  return key;
}

/**
 * The master key: WARDEN_MASTER_KEY when set; in embedded mode otherwise the one kept in the
 * data directory (created on first use). Call after openDatabase(), which holds the directory's lock.
 */
export function resolveMasterKey(config: Config, log: Logger): string {
  if (config.masterKey) return config.masterKey;
  if (!config.embedded) {
    throw new ConfigError(
      'missing required value WARDEN_MASTER_KEY: generate one with `openssl rand -base64 32` and set WARDEN_MASTER_KEY or WARDEN_MASTER_KEY_FILE',
    );
  }
  return loadOrCreateMasterKey(config.dataDir, log);
}

/**
 * Open the database the configuration names and bring its schema up to date: PGlite under
 * WARDEN_DATA_DIR (taking its lock, so a second process is refused) or DATABASE_URL.
 */
export async function openDatabase(config: Config, log: Logger): Promise<Database> {
  if (!config.embedded) {
    const target = targetFromUrl(config.databaseUrl!);
    let applied: string[];
    try {
      applied = await migrate(target, log);
    } catch (error) {
      // Connection and login failures are configuration problems: say so in one line.
      const code = (error as { code?: unknown }).code;
      if (typeof code !== 'string') throw error;
      const where = `${target.host}:${target.port}/${target.database} as ${target.user}`;
      throw new AppError(
        'unavailable',
        `cannot use the database at ${where} (${code}: ${(error as Error).message}); check DATABASE_URL and that PostgreSQL is running`,
        { cause: error },
      );
    }
    const sql = connect(target);
    return { target, sql, applied, close: () => sql.end({ timeout: 5 }) };
  }

  const firstBoot = !existsSync(path.join(config.dataDir, 'pglite', 'PG_VERSION'));
  const began = performance.now();
  const embedded = await startEmbedded({ dataDir: config.dataDir });
  try {
    const seconds = ((performance.now() - began) / 1000).toFixed(1);
    if (firstBoot) {
      log.info(`created the embedded database in ${config.dataDir} in ${seconds} s (first start only)`);
    } else {
      log.info(`opened the embedded database in ${config.dataDir} in ${seconds} s`);
    }
    const applied = await migrate(embedded.target, log);
    const sql = connect(embedded.target);
    return {
      target: embedded.target,
      sql,
      applied,
      async close() {
        try {
          await sql.end({ timeout: 5 });
        } finally {
          await embedded.close();
        }
      },
    };
  } catch (error) {
    await embedded.close();
    throw error;
  }
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      const reason =
        error.code === 'EADDRINUSE'
          ? `port ${port} on ${host} is already in use; stop what uses it or set PORT to another port`
          : `cannot listen on ${host}:${port} (${error.code ?? error.message}); check HOST and PORT`;
      reject(new AppError('unavailable', reason, { cause: error }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** How long requests in flight get to finish at shutdown before their connections are cut. */
const HTTP_GRACE_MS = 10_000;

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => server.closeAllConnections(), HTTP_GRACE_MS);
    force.unref();
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    // Idle keep-alive sockets would otherwise hold close() open until they time out.
    server.closeIdleConnections();
  });
}

/**
 * @example
 * const warden = await startWarden({ config: loadConfig() });
 * process.once('SIGTERM', () => warden.stop());
 */
export async function startWarden(options: WardenOptions): Promise<Warden> {
  const began = performance.now();
  const { config } = options;
  const log = options.log ?? createLogger(config.logLevel);
  const clock = options.clock ?? systemClock;
  // Undo, in reverse, whatever started before a failure (or on stop()).
  const teardown: { name: string; run: () => Promise<void> }[] = [];
  async function unwind(): Promise<void> {
    for (const step of teardown.splice(0).reverse()) {
      try {
        await step.run();
      } catch (error) {
        log.error({ err: error }, `shutdown: ${step.name} failed`);
      }
    }
  }

  try {
    const db = await openDatabase(config, log);
    teardown.push({ name: 'database', run: () => db.close() });

    const chatPlatforms: Platform[] = config.console ? ['console'] : [];
    const deliverers: Record<string, Deliverer> = {};
    // Ticket opens, comments and transitions (integrations/tickets); none when TICKETS_SYSTEM=none.
    const tickets = createTicketSystem(config.tickets, { clock });
    if (tickets) deliverers.ticket = createTicketDeliverer({ sql: db.sql, tickets, clock });
    // Grant keys go on and off servers right after the commit that made it due (commands/access/work.ts).
    deliverers.access = createAccessDeliverer(() => deps);
    // Script runs start after the commit that queued them; webhooks go out signed (commands/scripts, commands/webhooks).
    deliverers['sop-run'] = createScriptRunner(() => deps).deliverer;
    deliverers.webhook = createWebhookDeliverer({ sql: db.sql, clock, vault: () => deps.vault });
    // Approved baseline remediations run after the commit; scheduled report e-mails go out over SMTP when configured.
    deliverers['baseline-remediation'] = createRemediationDeliverer(() => deps);
    const mailer = config.mail ? createMailer(config.mail) : undefined;
    if (mailer) {
      deliverers.mail = createReportMailDeliverer(() => deps, mailer);
      teardown.push({ name: 'mailer', run: async () => mailer.close() });
    }
    // Slack's outgoing side exists before the deps, because the outbox worker needs its deliverer.
    const slackChat = config.slack ? createSlackChat(config.slack, { sql: db.sql, clock, log }) : undefined;
    if (slackChat) {
      chatPlatforms.push('slack');
      deliverers.slack = createChatDeliverer({ sql: db.sql, platform: slackChat, clock });
    }
    // Teams likewise: its adapter and outgoing platform come first, its endpoint after the deps.
    const teamsChat = config.teams ? createTeamsChat(config.teams, { sql: db.sql, clock, log }) : undefined;
    if (teamsChat) {
      chatPlatforms.push('teams');
      deliverers.teams = createChatDeliverer({ sql: db.sql, platform: teamsChat.platform, clock });
    }
    if (config.console) {
      deliverers.console = createChatDeliverer({
        sql: db.sql,
        platform: createConsolePlatform(db.sql, clock),
        clock,
      });
    }
    const worker = createOutboxWorker({
      sql: db.sql,
      clock,
      log: log.child({ component: 'outbox' }),
      deliverers,
    });
    const cloud = createCloudProviders();
    teardown.push({ name: 'cloud clients', run: async () => cloud.close() });
    const deps: Deps = {
      sql: db.sql,
      clock,
      log,
      vault: createVault(resolveMasterKey(config, log), config.previousMasterKeys),
      config: { publicUrl: config.publicUrl, embedded: config.embedded, admins: config.admins },
      chatPlatforms,
      kickOutbox: () => worker.kick(),
      tickets,
      approvalSubjects: createApprovalSubjects([
        ...accessApprovalSubjects,
        scriptVersionSubject,
        scriptRunSubject,
        ...patchApprovalSubjects,
        patchRestoreSubject,
        remediationSubject,
      ]),
      targets: createTargetFactory(),
      // AWS SSM and Azure targets and discovery, from each account's settings and sealed credentials.
      targetProviders: cloud.providers,
    };
    teardown.push({ name: 'outbox worker', run: () => worker.stop() });
    teardown.push({ name: 'ssh connections', run: () => deps.targets!.close() });

    await seed(db.sql, deps, { admins: config.admins, demo: config.demo });
    // Scan batches left running by a process that died are marked interrupted (embedded: this is the only process).
    await sweepInterruptedScans(deps, config.embedded ? { staleAfterMs: 0 } : {});
    await sweepInterruptedRuns(deps, config.embedded ? { staleAfterMs: 0 } : {});
    // Commands and clicks a dead process acknowledged but never finished: their users are told.
    await sweepInterruptedInteractions(deps, config.embedded ? { staleAfterMs: 0 } : {});
    const stopHeartbeat = startInteractionHeartbeat(deps);
    teardown.push({ name: 'interaction heartbeat', run: stopHeartbeat });

    const scheduler: Scheduler = createScheduler({
      target: db.target,
      deps,
      jobs: [
        outboxDrainJob(worker),
        approvalsSweepJob,
        scanDueJob,
        discoveryJob,
        grantsExpireJob,
        keysRotateJob,
        complianceEvaluateJob,
        complianceDigestJob,
        scriptRunsSweepJob,
        interactionsSweepJob,
        // The plan rows are the schedule; the window job enqueues patch-run through the scheduler itself.
        patchWindowJob((name, data) => scheduler.now(name, data)),
        patchAutoApproveJob,
        patchHeadsUpJob,
        patchRunJob,
        patchResumeJob,
        // Baselines run after each successful scan; report e-mails only when SMTP is configured.
        baselineDueJob,
        ...(mailer ? [reportsEmailJob] : []),
      ],
      embedded: config.embedded,
    });
    let schedulerRunning = false;
    teardown.push({
      name: 'scheduler',
      run: async () => {
        schedulerRunning = false;
        await scheduler.stop();
      },
    });
    await scheduler.start();
    schedulerRunning = true;
    // Patch runs a dead process left mid-way carry on from each server's recorded state (embedded:
    // this is the only process, so every running plan is ours to resume).
    void resumeInterruptedRuns(deps, { force: config.embedded }).catch((err: unknown) =>
      log.error({ err }, 'could not resume interrupted patch runs'),
    );

    const registry = createRegistry();
    const mounts: { path: string; app: Hono<AppEnv> }[] = [];
    // POST /hooks/jira or /hooks/servicenow: a change rejected there cancels its approval here.
    if (tickets) mounts.push({ path: '/', app: createTicketHooks(deps, config.tickets) });
    // GET /dashboard…: signed-link or API-token access only (bot/dashboard).
    mounts.push({ path: '/', app: new Hono<AppEnv>().route('/', createDashboardRoutes({ deps })) });
    if (config.console) {
      // route() adopts a sub-app of any context type: the console's routes use none of AppEnv.
      mounts.push({ path: '/', app: new Hono<AppEnv>().route('/', createConsoleRoutes({ deps, registry })) });
    }
    // Slack's acknowledgements commit on a small pool of their own, never queued behind slow work
    // (embedded PGlite is a single session, so there it shares the one pool).
    const slackIngress = config.slack && !config.embedded ? connect(db.target, { max: 4 }) : undefined;
    if (slackIngress)
      teardown.push({ name: 'slack ingress pool', run: () => slackIngress.end({ timeout: 5 }) });
    const slack = config.slack
      ? createSlackApp(config.slack, deps, registry, {
          ...(slackChat ? { platform: slackChat } : {}),
          ...(slackIngress ? { ingressSql: slackIngress } : {}),
          homeSources: { grants: homeGrants, compliance: homeCompliance },
        })
      : undefined;
    if (slack) {
      mounts.push({ path: '/slack', app: slack.routes });
      // Stops after the HTTP server (teardown runs in reverse), so requests in flight finish first.
      teardown.push({ name: 'slack', run: () => slack.stop() });
      await slack.start();
    }
    const teams =
      config.teams && teamsChat
        ? createTeamsApp(config.teams, deps, registry, { chat: teamsChat })
        : undefined;
    // POST /api/messages: the Teams bot endpoint.
    if (teams) mounts.push({ path: '/', app: new Hono<AppEnv>().route('/', teams.routes) });
    const app = createApp({
      deps,
      mounts,
      readiness: {
        scheduler: () => schedulerRunning,
        ...(slack || teams ? { extra: { ...slack?.readiness, ...teams?.readiness } } : {}),
      },
    });
    const server = createAdaptorServer({ fetch: app.fetch }) as Server;
    const port = await listen(server, config.port, config.host);
    teardown.push({ name: 'http server', run: () => closeServer(server) });

    const shownHost = ['0.0.0.0', '::', '127.0.0.1', '::1'].includes(config.host) ? 'localhost' : config.host;
    const url = `http://${shownHost}:${port}`;
    const seconds = ((performance.now() - began) / 1000).toFixed(1);
    log.info({ port, embedded: config.embedded }, `Warden is ready at ${url} (started in ${seconds} s)`);

    let stopping: Promise<void> | undefined;
    return {
      url,
      port,
      deps,
      stop() {
        stopping ??= (async () => {
          log.info('Warden is stopping');
          await unwind();
          log.info('Warden stopped');
        })();
        return stopping;
      },
    };
  } catch (error) {
    await unwind();
    throw error;
  }
}
