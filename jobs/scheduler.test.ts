import { afterEach, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../test/db.js';
import { createTestDeps } from '../test/deps.js';
import { createScheduler, type Scheduler } from './scheduler.js';
import type { JobSpec } from './types.js';

const db = useTestDatabase('scheduler');

interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

const open: Scheduler[] = [];

function scheduler(jobs: JobSpec[], extra: { processEvery?: number } = {}): Scheduler {
  const s = createScheduler({
    target: db.current.target,
    deps: createTestDeps(db.current.sql),
    jobs,
    embedded: db.current.kind === 'pglite',
    // Short polls keep the test quick; NOTIFY wakes Postgres replicas sooner anyway.
    processEvery: extra.processEvery ?? 200,
  });
  open.push(s);
  return s;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.stop()));
});

describe('scheduler', () => {
  it('runs a job queued with now() exactly once, with its data', async () => {
    const runs: unknown[] = [];
    const ran = deferred();
    const s = scheduler([
      {
        name: 'echo',
        async run(data) {
          runs.push(data);
          ran.resolve();
        },
      },
    ]);
    await s.start();
    await s.now('echo', { greeting: 'hello' });
    await withDeadline(ran.promise, 15_000, 'the job to run');
    await s.stop();
    expect(runs).toEqual([{ greeting: 'hello' }]);
    // removeOnComplete: a one-off run leaves no row behind.
    const [row] = await db.current.sql<{ n: number }[]>`select count(*)::int as n from agenda_jobs`;
    expect(row!.n).toBe(0);
  });

  it('refuses to queue a job it does not know, naming it', async () => {
    const s = scheduler([]);
    await s.start();
    await expect(s.now('no-such-job')).rejects.toThrow(/no job named no-such-job/);
  });

  it('declares a recurring job once per name, with its timezone, however many replicas start', async () => {
    const spec: JobSpec = { name: 'nightly', every: '0 3 * * *', timezone: 'Europe/Paris', async run() {} };
    await scheduler([spec]).start();
    await scheduler([spec]).start();
    const rows = await db.current.sql<{ repeat_interval: string; repeat_timezone: string; type: string }[]>`
      select repeat_interval, repeat_timezone, type from agenda_jobs where name = 'nightly'`;
    expect(rows).toEqual([{ repeat_interval: '0 3 * * *', repeat_timezone: 'Europe/Paris', type: 'single' }]);
    await db.current.sql`delete from agenda_jobs where name = 'nightly'`;
  });

  it('stop() waits for a running job to finish and saves its completion', async () => {
    const started = deferred();
    const gate = deferred();
    let finished = false;
    const s = scheduler([
      {
        name: 'slow',
        async run() {
          started.resolve();
          await gate.promise;
          finished = true;
        },
      },
    ]);
    await s.start();
    await s.now('slow');
    await withDeadline(started.promise, 15_000, 'the job to start');

    let stopped = false;
    const stopping = s.stop().then(() => {
      stopped = true;
    });
    // A database round trip gives stop() every chance to (wrongly) finish early.
    await db.current.sql`select 1`;
    expect(stopped).toBe(false);

    gate.resolve();
    await withDeadline(stopping, 15_000, 'stop() to return');
    expect(finished).toBe(true);
    const locked = await db.current
      .sql`select id from agenda_jobs where name = 'slow' and locked_at is not null`;
    expect(locked).toHaveLength(0);
  });

  // Real Postgres only: PGlite is one shared session behind its socket, so two "replicas" there are
  // two pools on the same single-writer process, which proves nothing about agenda's row locks.
  it.runIf(process.env.TEST_DATABASE_URL)(
    'two replicas sharing a database run 20 queued jobs with none run twice',
    async () => {
      const runs: { replica: string; i: number }[] = [];
      const all = deferred();
      const spec = (replica: string): JobSpec => ({
        name: 'count',
        async run(data) {
          runs.push({ replica, i: Number(data.i) });
          if (runs.length === 20) all.resolve();
        },
      });
      const a = scheduler([spec('a')]);
      const b = scheduler([spec('b')]);
      await Promise.all([a.start(), b.start()]);
      for (let i = 0; i < 20; i++) await (i % 2 ? a : b).now('count', { i });
      await withDeadline(all.promise, 20_000, '20 runs');
      // Stopping both lets anything still in flight finish, so a double run would show up here.
      await Promise.all([a.stop(), b.stop()]);
      expect(runs).toHaveLength(20);
      expect(new Set(runs.map((r) => r.i)).size).toBe(20);
    },
  );
});
