import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRun, listRunServers } from '../../storage/script-runs.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { decide } from '../approvals/engine.js';
import { createApprovalSubjects } from '../approvals/subjects.js';
import { createActor, createProjectRow, uniqueHandle } from '../approvals/testing.js';
import type { Actor } from '../rbac/authorize.js';
import { createTargetFactory } from '../scanning/target-factory.js';
import { executeRun } from './execute.js';
import { createScript, updateScript } from './repository.js';
import { startRun } from './run.js';
import { scriptRunSubject } from './run-subject.js';
import { addServer } from './testing.js';
import { scriptVersionSubject } from './versions.js';

const db = useTestDatabase('scripts-run');

describe('script runs: permission and the risk gate', () => {
  let deps: TestDeps;
  let author: Actor;
  let operator: Actor;
  let approver: Actor;
  let contractor: Actor;
  let project: { id: number; slug: string };
  let server: string;

  beforeAll(async () => {
    deps = createTestDeps(db.current.sql, {
      approvalSubjects: createApprovalSubjects([scriptVersionSubject, scriptRunSubject]),
      targets: createTargetFactory(),
    });
    project = await createProjectRow(db.current.sql, uniqueHandle('gate'));
    author = await createActor(db.current.sql, uniqueHandle('author'), [['admin', null]]);
    operator = await createActor(db.current.sql, uniqueHandle('op'), [['operator', project.id]]);
    approver = await createActor(db.current.sql, uniqueHandle('appr'), [['approver', null]]);
    contractor = await createActor(db.current.sql, uniqueHandle('ctr'), [['contractor', project.id]]);
    server = (await addServer(db.current.sql, { name: uniqueHandle('gate-host'), projectId: project.id }))
      .name;
    await createScript(deps, author, {
      name: 'hello',
      description: 'Say hello',
      body: 'printf "hello %s" "$WARDEN_PARAM_WHO"',
      params: [{ name: 'who', type: 'string' }],
      timeout: '10s',
    });
  });
  afterAll(async () => {
    await deps.targets?.close();
  });

  it('refuses a user without the permission, naming the permission, the project and the roles that grant it', async () => {
    const refused = startRun(deps, contractor, { script: 'hello', target: server, params: { who: 'x' } });
    await expect(refused).rejects.toMatchObject({ code: 'forbidden' });
    const message = (await refused.catch((e: Error) => e.message)) as string;
    expect(message).toContain('you may not run hello there');
    expect(message).toContain(`sop:run:hello permission on project ${project.slug}`);
    expect(message).toContain('operator');
    const runs = await deps.sql`select id from script_runs`;
    expect(runs).toHaveLength(0);
  });

  it('runs a low-risk script at once for a holder of the permission', async () => {
    const started = await startRun(deps, operator, {
      script: 'hello',
      target: server,
      params: { who: 'operator' },
    });
    expect(started.run.status).toBe('queued');
    expect(started.approvalId).toBeNull();
    const [item] = await deps.sql<{ payload: { runId: number } }[]>`
      select payload from outbox where channel = 'sop-run' and payload->>'runId' = ${String(started.run.id)}`;
    expect(item?.payload.runId).toBe(started.run.id);
    const outcome = await executeRun(deps, started.run.id);
    expect(outcome?.run.status).toBe('succeeded');
    expect(outcome?.servers[0]).toMatchObject({ status: 'succeeded', exitCode: 0 });
    // a second delivery of the start item does nothing
    expect(await executeRun(deps, started.run.id)).toBeUndefined();
  });

  it('makes a high-risk script wait for its review, then each run wait for approval', async () => {
    const created = await createScript(deps, author, {
      name: 'reboot-host',
      description: 'Reboot (simulated)',
      body: 'echo "rebooting $WARDEN_SERVER_NAME"',
      risk: 'high',
      timeout: '10s',
    });
    await expect(startRun(deps, operator, { script: 'reboot-host', target: server })).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringContaining(
        `is high risk and its review (approval #${created.approvalId}) is not approved yet`,
      ),
    });
    await expect(
      decide(deps, { actor: author, requestId: created.approvalId!, decision: 'approve' }),
    ).rejects.toMatchObject({ code: 'forbidden' });
    await decide(deps, { actor: approver, requestId: created.approvalId!, decision: 'approve' });

    const requested = await startRun(deps, operator, { script: 'reboot-host', target: server });
    expect(requested.run.status).toBe('awaiting-approval');
    expect(requested.approvalId).toBeGreaterThan(0);
    expect(requested.reply.text).toContain(`waits for approval #${requested.approvalId}`);
    expect(await executeRun(deps, requested.run.id)).toBeUndefined();
    expect(await listRunServers(deps.sql, requested.run.id)).toEqual([
      expect.objectContaining({ status: 'pending', startedAt: null }),
    ]);

    await decide(deps, { actor: approver, requestId: requested.approvalId!, decision: 'approve' });
    expect((await getRun(deps.sql, requested.run.id))?.status).toBe('queued');
    const outcome = await executeRun(deps, requested.run.id);
    expect(outcome?.run.status).toBe('succeeded');
    expect(outcome?.servers[0]?.exitCode).toBe(0);
  });

  it('needs a new review after the script changes, and never runs a version changed after the run was approved', async () => {
    const v2 = await updateScript(deps, author, 'reboot-host', { body: 'echo "rebooting v2"' });
    expect(v2.version).toMatchObject({ version: 2, approvalState: 'pending' });
    await expect(startRun(deps, operator, { script: 'reboot-host', target: server })).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringContaining('reboot-host v2 is high risk and its review'),
    });
    await decide(deps, { actor: approver, requestId: v2.approvalId!, decision: 'approve' });
    const requested = await startRun(deps, operator, { script: 'reboot-host', target: server });
    await decide(deps, { actor: approver, requestId: requested.approvalId!, decision: 'approve' });

    // the script changes between the run's approval and its execution
    await updateScript(deps, author, 'reboot-host', { body: 'echo "rebooting v3"' });
    const outcome = await executeRun(deps, requested.run.id);
    expect(outcome?.run.status).toBe('failed');
    expect(outcome?.run.error).toContain('has been replaced by a newer version');
    expect(outcome?.servers).toEqual([
      expect.objectContaining({ status: 'error', startedAt: null, exitCode: null }),
    ]);
  });

  it('ends a run whose approval is denied without touching a server', async () => {
    await createScript(deps, author, {
      name: 'drop-caches',
      description: 'x',
      body: 'echo dropped',
      risk: 'high',
    });
    const review = await deps.sql<{ approval_id: number }[]>`
      select v.approval_id from script_versions v join scripts s on s.id = v.script_id where s.name = 'drop-caches'`;
    await decide(deps, { actor: approver, requestId: review[0]!.approval_id, decision: 'approve' });
    const requested = await startRun(deps, operator, {
      script: 'drop-caches',
      target: `project:${project.slug}`,
    });
    await decide(deps, {
      actor: approver,
      requestId: requested.approvalId!,
      decision: 'deny',
      comment: 'not now',
    });
    expect((await getRun(deps.sql, requested.run.id))?.status).toBe('denied');
    expect(await executeRun(deps, requested.run.id)).toBeUndefined();
    expect((await listRunServers(deps.sql, requested.run.id)).map((s) => s.status)).toEqual(['cancelled']);
  });

  it('refuses parameters that do not fit their types, naming the parameter, and writes nothing', async () => {
    const before = await deps.sql`select count(*)::int as n from script_runs`;
    await expect(
      startRun(deps, operator, { script: 'hello', target: server, params: {} }),
    ).rejects.toMatchObject({
      code: 'bad_request',
      message: expect.stringContaining('parameter who is required'),
    });
    await expect(
      startRun(deps, operator, { script: 'hello', target: server, params: { who: 'x', whom: 'y' } }),
    ).rejects.toThrow(/no parameter "whom"/);
    await expect(
      startRun(deps, operator, { script: 'hello', target: 'tag:nope=none', params: { who: 'x' } }),
    ).rejects.toThrow(/has no servers/);
    expect(await deps.sql`select count(*)::int as n from script_runs`).toEqual(before);
  });
});
