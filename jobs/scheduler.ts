import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { PostgresBackend } from '@agendajs/postgres-backend';
import { Agenda, type Job } from 'agenda';
import type { Deps } from '../commands/deps.js';
import { type DbTarget, pgPool } from '../storage/db.js';
import type { JobSpec } from './types.js';

/**
 * The job scheduler: agenda on its Postgres backend. Every replica runs one; agenda's row locks
 * (`FOR UPDATE SKIP LOCKED`) make sure each job runs in exactly one of them.
 *
 * Embedded PGlite is a single session behind a socket, so LISTEN/NOTIFY does not cross
 * connections there: the scheduler polls every second instead, on a pool of two.
 */
export interface SchedulerOptions {
  target: DbTarget;
  deps: Deps;
  jobs: readonly JobSpec[];
  /** Poll instead of LISTEN/NOTIFY (PGlite). */
  embedded: boolean;
  /** How often to look for due jobs. Default: 1 s embedded, 5 s on Postgres (NOTIFY wakes it sooner). */
  processEvery?: number;
  /** How long stop() waits for running jobs before giving up on them (their locks then expire). */
  stopTimeoutMs?: number;
}

export interface Scheduler {
  /** This instance's name in agenda_jobs.last_modified_by (unique per process). */
  readonly name: string;
  /** Resolves once the backend is connected. */
  ready(): Promise<void>;
  /** Start processing jobs and (re)declare the recurring ones. */
  start(): Promise<void>;
  /** Stop taking jobs, let running ones finish, release the rest, close the pool. Safe to call twice. */
  stop(): Promise<void>;
  /** Queue one run of `name` now; returns the agenda job id. */
  now(name: string, data?: Record<string, unknown>): Promise<string>;
}

const DEFAULT_STOP_TIMEOUT_MS = 30_000;

/**
 * @example
 * const scheduler = createScheduler({ target, deps, jobs: [outboxDrainJob(worker)], embedded: true });
 * await scheduler.start();
 * await scheduler.now('outbox-drain');
 * await scheduler.stop();
 */
export function createScheduler(options: SchedulerOptions): Scheduler {
  const { target, deps, jobs, embedded } = options;
  const log = deps.log.child({ component: 'scheduler' });
  const name = `warden-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`.slice(0, 255);
  const pool = pgPool(target, embedded ? 2 : 4);
  // An idle client losing its connection must not crash the process; agenda reconnects per query.
  pool.on('error', (error) => log.warn({ err: error }, 'scheduler database connection lost'));

  const backend = new PostgresBackend({
    pool,
    // The tables come from migration 1700000000002: replicas creating them at once would race.
    ensureSchema: false,
    disableNotifications: embedded,
    // NOTIFY channels are database-wide; a per-schema name keeps test schemas from waking each other.
    ...(target.schema ? { channelName: `agenda_jobs_${target.schema}` } : {}),
  });
  const agenda = new Agenda({
    backend,
    name,
    processEvery: options.processEvery ?? (embedded ? 1000 : 5000),
  });
  agenda.on('error', (error) => log.error({ err: error }, 'scheduler error'));
  agenda.on('fail', (error: Error | string, job: Job | { jobName: string }) => {
    const jobName = 'attrs' in job ? job.attrs.name : job.jobName;
    log.warn({ job: jobName, err: error }, `job ${jobName} failed`);
  });

  for (const spec of jobs) {
    agenda.define(
      spec.name,
      async (job: Job<Record<string, unknown> | undefined>) => {
        await spec.run(job.attrs.data ?? {}, deps);
        // A one-off run (now()) that succeeded leaves nothing worth keeping. agenda's own
        // removeOnComplete deletes the row only after reporting completion, which leaves drain()
        // waiting out its whole timeout; deleting it here, while we still hold the lock, does not.
        // agenda's final state save then finds no row, which it tolerates.
        if (!job.attrs.nextRunAt) await job.remove();
      },
      {
        ...(spec.concurrency ? { concurrency: spec.concurrency } : {}),
        ...(spec.lockLifetimeMs ? { lockLifetime: spec.lockLifetimeMs } : {}),
      },
    );
  }

  let started = false;
  let stopping: Promise<void> | undefined;

  async function stopOnce(): Promise<void> {
    const timeout = options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
    try {
      if (started) {
        // drain() stops fetching and waits for the jobs already running; it keeps the pool open.
        const result = await agenda.drain({ timeout, closeConnection: false });
        if (result.timedOut) {
          log.warn(
            { running: result.running },
            'jobs still running at shutdown; their locks expire and another replica retries them',
          );
        }
        // drain() leaves jobs this process locked ahead of time but never started; hand them back
        // now rather than after their lock lifetime. Nothing of ours is running any more.
        await pool.query(
          'update agenda_jobs set locked_at = null where locked_at is not null and last_modified_by = $1',
          [name],
        );
      }
    } finally {
      await pool.end();
    }
  }

  return {
    name,
    async ready() {
      await agenda.ready;
    },
    async start() {
      if (stopping) throw new Error('the scheduler was stopped; create a new one');
      await agenda.ready;
      await agenda.start();
      started = true;
      for (const spec of jobs) {
        if (!spec.every) continue;
        // every() upserts one 'single' row per name, so replicas declaring it together is harmless.
        await agenda.every(spec.every, spec.name, undefined, {
          ...(spec.timezone ? { timezone: spec.timezone } : {}),
          skipImmediate: true,
        });
      }
      log.info({ jobs: jobs.map((j) => j.name), polling: embedded }, 'scheduler started');
    },
    stop() {
      stopping ??= stopOnce();
      return stopping;
    },
    async now(jobName, data = {}) {
      if (!agenda.definitions[jobName]) {
        throw new Error(`no job named ${jobName} is registered with the scheduler`);
      }
      const job = await agenda.now(jobName, data);
      return String(job.attrs._id);
    },
  };
}
