import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRunServerOutput, listRunServers } from '../../storage/script-runs.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { createApprovalSubjects } from '../approvals/subjects.js';
import { createActor, createProjectRow, uniqueHandle } from '../approvals/testing.js';
import type { Actor } from '../rbac/authorize.js';
import { createTargetFactory } from '../scanning/target-factory.js';
import { cancelRun } from './cancel.js';
import { pidFileFor } from './command.js';
import { executeRun } from './execute.js';
import { createScript } from './repository.js';
import { startRun } from './run.js';
import { addServer, byServer, eventually } from './testing.js';

const db = useTestDatabase('scripts-fanout');

// One script for a simulated fleet of local hosts: the server's name decides how it behaves.
const FLEET_SCRIPT = `case "$WARDEN_SERVER_NAME" in
  *-bad-*) echo "disk full on $WARDEN_SERVER_NAME" >&2; exit 3 ;;
  *-hang-*) sleep 30 ;;
  *) echo "ok from $WARDEN_SERVER_NAME" ;;
esac`;

describe('script runs over a fleet', () => {
  let deps: TestDeps;
  let operator: Actor;
  let project: { id: number; slug: string };
  let prefix: string;

  beforeAll(async () => {
    deps = createTestDeps(db.current.sql, {
      approvalSubjects: createApprovalSubjects(),
      targets: createTargetFactory(),
    });
    project = await createProjectRow(db.current.sql, uniqueHandle('fleet'));
    const author = await createActor(db.current.sql, uniqueHandle('author'), [['admin', null]]);
    operator = await createActor(db.current.sql, uniqueHandle('op'), [['operator', project.id]]);
    prefix = uniqueHandle('h');
    for (const name of ['ok-1', 'ok-2', 'bad-1', 'bad-2', 'hang-1', 'ok-3']) {
      await addServer(db.current.sql, {
        name: `${prefix}-${name}`,
        projectId: project.id,
        tags: { role: 'fleet' },
      });
    }
    await addServer(db.current.sql, {
      name: `${prefix}-win-1`,
      projectId: project.id,
      tags: { role: 'fleet' },
      os: { family: 'windows' },
    });
    await createScript(deps, author, {
      name: 'fleet-check',
      description: 'Check the fleet',
      body: FLEET_SCRIPT,
      timeout: '2s',
    });
    await createScript(deps, author, {
      name: 'long-task',
      description: 'Takes long',
      body: 'sleep 30; echo done',
      timeout: '1m',
    });
  });
  afterAll(async () => {
    await deps.targets?.close();
  });

  it('reports each server: successes, failures with their exit codes, a timeout, and a skipped OS', async () => {
    const started = await startRun(deps, operator, {
      script: 'fleet-check',
      target: 'tag:role=fleet',
      concurrency: 3,
    });
    expect(started.serverCount).toBe(7);
    const outcome = await executeRun(deps, started.run.id);
    expect(outcome?.run.status).toBe('partially-failed');
    const s = byServer(outcome!.servers);
    for (const ok of ['ok-1', 'ok-2', 'ok-3']) {
      expect(s[`${prefix}-${ok}`]).toMatchObject({ status: 'succeeded', exitCode: 0, timedOut: false });
    }
    for (const bad of ['bad-1', 'bad-2'])
      expect(s[`${prefix}-${bad}`]).toMatchObject({ status: 'failed', exitCode: 3 });
    expect(s[`${prefix}-hang-1`]).toMatchObject({ status: 'timed-out', exitCode: null, timedOut: true });
    expect(s[`${prefix}-hang-1`]!.durationMs).toBeGreaterThanOrEqual(1_900);
    expect(s[`${prefix}-hang-1`]!.durationMs).toBeLessThan(10_000);
    expect(s[`${prefix}-win-1`]).toMatchObject({
      status: 'skipped',
      error: expect.stringContaining('runs windows'),
    });

    const bad = await getRunServerOutput(deps.sql, started.run.id, `${prefix}-bad-1`);
    expect(bad).toMatchObject({ stdout: '', stderr: `disk full on ${prefix}-bad-1\n` });
    const ok = await getRunServerOutput(deps.sql, started.run.id, `${prefix}-ok-2`);
    expect(ok?.stdout).toBe(`ok from ${prefix}-ok-2\n`);

    // every server's exit code and duration went to the run's thread
    const replies = await deps.sql<{ text: string }[]>`
      select payload->'reply'->>'text' as text from outbox
      where kind = 'thread-reply' and payload->'subject'->>'id' = ${String(started.run.id)} order by id`;
    const thread = replies.map((r) => r.text).join('\n');
    expect(thread).toMatch(new RegExp(`✘ ${prefix}-bad-1: exit 3 in \\d+s`));
    expect(thread).toMatch(new RegExp(`⏱ ${prefix}-hang-1: timed out in \\d+s`));
    expect(thread).toMatch(new RegExp(`✔ ${prefix}-ok-1: exit 0 in \\d+s`));
    expect(thread).toContain(`disk full on ${prefix}-bad-2`);
  });

  it('cancels a running run: pending servers never start and running scripts are stopped', async () => {
    const started = await startRun(deps, operator, {
      script: 'long-task',
      target: `project:${project.slug}`,
      concurrency: 2,
    });
    const began = performance.now();
    const execution = executeRun(deps, started.run.id);
    // wait until two scripts run and have written their pid files
    const running = await eventually(async () => {
      const rows = (await listRunServers(deps.sql, started.run.id)).filter((r) => r.status === 'running');
      return (
        rows.length === 2 && rows.every((r) => existsSync(pidFileFor(started.run.id, r.cancelToken!))) && rows
      );
    });
    const cancelled = await cancelRun(deps, operator, started.run.id);
    expect(cancelled.notStarted).toHaveLength(5);
    expect(cancelled.signalled.sort()).toEqual(running.map((r) => r.serverName).sort());
    const outcome = await execution;
    expect(performance.now() - began).toBeLessThan(20_000);
    expect(outcome?.run.status).toBe('cancelled');
    const statuses = outcome!.servers.map((r) => r.status);
    expect(statuses.every((st) => st === 'cancelled')).toBe(true);
    const stopped = outcome!.servers.filter((r) => r.startedAt !== null);
    expect(stopped.map((r) => r.serverName).sort()).toEqual(running.map((r) => r.serverName).sort());
    for (const r of stopped) {
      expect(r.signal).toBe('TERM');
      expect(existsSync(pidFileFor(started.run.id, r.cancelToken!))).toBe(false);
    }
    await expect(cancelRun(deps, operator, started.run.id)).rejects.toMatchObject({ code: 'conflict' });
  });

  it('refuses a cancel by someone who may not run the script there', async () => {
    const stranger = await createActor(db.current.sql, uniqueHandle('stranger'), [['auditor', null]]);
    const started = await startRun(deps, operator, { script: 'fleet-check', target: `${prefix}-ok-1` });
    await expect(cancelRun(deps, stranger, started.run.id)).rejects.toMatchObject({ code: 'forbidden' });
    const cancelled = await cancelRun(deps, operator, started.run.id);
    expect(cancelled.notStarted).toEqual([`${prefix}-ok-1`]);
    expect(await executeRun(deps, started.run.id)).toBeUndefined();
  });
});
