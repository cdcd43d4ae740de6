import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FormInteraction, InteractionResult } from '../../bot/chat/model.js';
import { getRun } from '../../storage/script-runs.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { createApprovalSubjects } from '../approvals/subjects.js';
import { commandContext, createActor, createProjectRow, uniqueHandle } from '../approvals/testing.js';
import { matchCommand, parseArgs, tokenize } from '../grammar.js';
import { createRegistry } from '../index.js';
import type { Actor } from '../rbac/authorize.js';
import { createTargetFactory } from '../scanning/target-factory.js';
import { runFormSpec } from './chat.js';
import { executeRun } from './execute.js';
import { createScript } from './repository.js';
import { addServer } from './testing.js';

const db = useTestDatabase('scripts-chat');

describe('script chat commands', () => {
  let deps: TestDeps;
  let operator: Actor;
  let contractor: Actor;
  let server: string;
  const registry = createRegistry();

  async function say(actor: Actor, text: string): Promise<InteractionResult> {
    const match = matchCommand(registry, tokenize(text));
    return match.spec.run(parseArgs(match.spec, match.rest, text), commandContext(actor, deps, text));
  }

  beforeAll(async () => {
    deps = createTestDeps(db.current.sql, {
      approvalSubjects: createApprovalSubjects(),
      targets: createTargetFactory(),
    });
    const project = await createProjectRow(db.current.sql, uniqueHandle('chat'));
    const author = await createActor(db.current.sql, uniqueHandle('author'), [['admin', null]]);
    operator = await createActor(db.current.sql, uniqueHandle('op'), [['operator', project.id]]);
    contractor = await createActor(db.current.sql, uniqueHandle('ctr'), [['contractor', project.id]]);
    server = (await addServer(db.current.sql, { name: uniqueHandle('chat-host'), projectId: project.id }))
      .name;
    await createScript(deps, author, {
      name: 'rotate-logs',
      description: 'Rotate a service’s logs',
      body: 'printf "%s:%s:%s" "$1" "$2" "$WARDEN_PARAM_KEEP"',
      params: [
        { name: 'service', type: 'enum', values: ['nginx', 'postgres'] },
        { name: 'keep', type: 'integer', min: 1, max: 30, default: 7 },
      ],
      timeout: '10s',
    });
  });
  afterAll(async () => {
    await deps.targets?.close();
  });

  it('lists and shows the scripts a user may run, with their parameters', async () => {
    const list = await say(operator, 'scripts');
    expect(list.reply?.items?.[0]?.text).toBe('rotate-logs — Rotate a service’s logs');
    const shown = await say(operator, 'script show rotate-logs');
    expect(shown.reply?.items?.map((i) => i.text)).toEqual([
      'service: one of nginx, postgres',
      'keep (optional): an integer from 1 to 30, default 7',
    ]);
    expect((await say(contractor, 'scripts')).reply?.text).toContain('No scripts you may run');
  });

  it('opens a form for what is missing and runs once it is filled in', async () => {
    const asked = await say(operator, 'run rotate-logs keep=3');
    const form = asked.reply?.form;
    expect(form?.fields.map((f) => [f.id, f.kind])).toEqual([
      ['target', 'server'],
      ['param.service', 'select'],
    ]);
    const submit = (values: Record<string, string>): FormInteraction => ({
      kind: 'form',
      formId: form!.id,
      values,
      state: form!.state!,
      dedupeKey: uniqueHandle('form'),
      user: { platform: 'console', externalId: operator.user.handle },
      channel: 'test',
      receivedAt: deps.clock.now(),
    });
    const ctx = commandContext(operator, deps);
    const bad = await runFormSpec.run(submit({ target: server, 'param.service': 'apache' }), ctx);
    expect(bad.fieldErrors).toEqual({
      'param.service': expect.stringContaining('parameter service must be one of nginx, postgres'),
    });

    const done = await runFormSpec.run(submit({ target: server, 'param.service': 'nginx' }), ctx);
    const runId = Number(/Run #(\d+)/.exec(done.reply?.text ?? '')?.[1]);
    expect(runId).toBeGreaterThan(0);
    const outcome = await executeRun(deps, runId);
    expect(outcome?.run.params).toEqual({ service: 'nginx', keep: '3' });
    expect(outcome?.servers[0]).toMatchObject({ status: 'succeeded', exitCode: 0 });

    const status = await say(operator, `run status ${runId}`);
    expect(status.reply?.header).toContain(`Run #${runId}: rotate-logs on ${server}`);
    expect(status.reply?.items?.[0]?.text).toMatch(new RegExp(`✔ ${server}: exit 0 in \\d+s`));
  });

  it('runs from one line, and explains refusals privately', async () => {
    const started = await say(operator, `run rotate-logs on ${server} service=postgres`);
    const runId = Number(/Run #(\d+)/.exec(started.reply?.text ?? '')?.[1]);
    expect((await getRun(deps.sql, runId))?.status).toBe('queued');
    const cancelled = await say(operator, `run cancel ${runId}`);
    expect(cancelled.reply?.text).toBe(`Run #${runId} cancelled: 1 server will not run.`);
    await expect(say(contractor, `run rotate-logs on ${server} service=nginx`)).rejects.toMatchObject({
      code: 'forbidden',
      message: expect.stringContaining('sop:run:rotate-logs'),
    });
    await expect(
      say(operator, `run rotate-logs on ${server} service=nginx keep="1; rm -rf /"`),
    ).rejects.toThrow(/parameter keep must be an integer from 1 to 30/);
    await expect(say(operator, 'run status 999999')).rejects.toMatchObject({ code: 'not_found' });
  });
});
