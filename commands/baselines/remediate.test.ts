import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Reply } from '../../bot/chat/model.js';
import { withTx } from '../../storage/db.js';
import { getServerByName } from '../../storage/inventory.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { decide } from '../approvals/engine.js';
import { createApprovalSubjects } from '../approvals/subjects.js';
import { click, commandContext, createActor, createProjectRow, parsedArgs } from '../approvals/testing.js';
import { alertBaselineDrift } from '../compliance/alerts.js';
import type { Actor } from '../rbac/authorize.js';
import { createTargetFactory } from '../scanning/target-factory.js';
import { insertTestServer } from '../scanning/testing.js';
import { baselineActions, baselineCommand, baselineRemediateCommand } from './chat.js';
import { DEFAULT_LINUX_BASELINE } from './default-linux.js';
import {
  createRemediationDeliverer,
  remediationSubject,
  requestRemediation,
  runRemediation,
} from './remediate.js';
import { runBaseline } from './run.js';
import { type Baseline, Baseline as BaselineSchema } from './types.js';

/**
 * Remediation runs only after an approval: asked for, approved by someone else, queued through the
 * outbox in the approval's commit, run once on the real local target, then confirmed by the check.
 */
const db = useTestDatabase('baselines-remediate');

let deps: TestDeps;
let requester: Actor;
let approver: Actor;
let baseline: Baseline;
let marker: string;

beforeAll(async () => {
  deps = createTestDeps(db.current.sql, {
    targets: createTargetFactory(),
    approvalSubjects: createApprovalSubjects([remediationSubject]),
  });
  const project = await createProjectRow(db.current.sql, 'fixes', {
    compliance: { baseline: { openTickets: false } },
  });
  requester = await createActor(db.current.sql, 'petra', [['patch-manager', project.id]]);
  approver = await createActor(db.current.sql, 'arno', [['approver', project.id]]);
  await insertTestServer(db.current.sql, { name: 'fix-host', projectId: project.id, provider: 'local' });
  marker = path.join(mkdtempSync(path.join(tmpdir(), 'wd-fix-')), 'marker');
  baseline = BaselineSchema.parse({
    name: 'marker',
    title: 'marker',
    families: ['debian'],
    checks: [
      {
        id: 'marker.present',
        title: 'The marker file exists',
        level: 1,
        argv: ['sh', '-c', 'test -f "$1" && echo present || { echo missing; exit 1; }', 'marker', marker],
        pass: { exitCode: 0 },
        remediation: {
          argv: ['sh', '-c', 'printf ok > "$1" && echo "created $1"', 'fix', marker],
          risk: 'low',
          summary: 'create the marker',
        },
      },
      { id: 'no.fix', title: 'No automatic fix', level: 2, argv: ['false'], pass: { exitCode: 0 } },
    ],
  });
});

const server = async () => (await getServerByName(db.current.sql, 'fix-host'))!;

describe('baseline remediation', () => {
  it('asks for an approval and runs nothing until someone else approves it', async () => {
    const first = await runBaseline(deps, await server(), { baseline, triggeredBy: 'test' });
    expect(first.results[0]).toMatchObject({ status: 'fail', evidence: 'missing (exit 1)' });

    const asked = await requestRemediation(
      deps,
      requester,
      { server: 'fix-host', check: 'marker.present' },
      { baseline },
    );
    expect(asked.remediation).toMatchObject({
      status: 'awaiting-approval',
      argv: baseline.checks[0]!.remediation!.argv,
    });
    await expect(
      requestRemediation(deps, requester, { server: 'fix-host', check: 'marker.present' }, { baseline }),
    ).rejects.toMatchObject({ code: 'conflict' });

    // Not approved yet: running it does nothing.
    expect(await runRemediation(deps, asked.remediation.id, { baseline })).toMatchObject({
      status: 'awaiting-approval',
    });
    expect(existsSync(marker)).toBe(false);
    await expect(
      decide(deps, { actor: requester, requestId: asked.approvalId, decision: 'approve' }),
    ).rejects.toMatchObject({
      code: 'forbidden',
    });

    await decide(deps, { actor: approver, requestId: asked.approvalId, decision: 'approve' });
    const [queued] = await db.current.sql<{ payload: { remediationId: number } }[]>`
      select payload from outbox where channel = 'baseline-remediation'`;
    expect(queued!.payload.remediationId).toBe(asked.remediation.id);

    const done = await runRemediation(deps, asked.remediation.id, { baseline });
    expect(done).toMatchObject({ status: 'succeeded', exitCode: 0 });
    expect(done!.output).toBe(`created ${marker}`);
    expect(readFileSync(marker, 'utf8')).toBe('ok');
    // Confirmed by the check itself, and told in the approval's thread.
    const [state] = await db.current.sql<{ status: string }[]>`
      select status from baseline_state where check_id = 'marker.present'`;
    expect(state!.status).toBe('pass');
    const [thread] = await db.current.sql<{ payload: { reply: { text: string } } }[]>`
      select o.payload from outbox o join audit_events e on e.seq = o.audit_seq
      where e.action = 'baseline.remediation-succeeded' and o.kind = 'thread-reply'`;
    expect(thread!.payload.reply.text).toContain('Remediation of marker.present on fix-host ran');

    // Delivered twice (a retry): the second delivery finds it done and runs nothing.
    const again = await createRemediationDeliverer(() => deps).deliver({
      id: 0,
      channel: 'baseline-remediation',
      kind: 'baseline.remediate',
      payload: { remediationId: asked.remediation.id },
      idempotencyKey: 'x',
      orderingKey: null,
      auditSeq: null,
      attempts: 2,
      createdAt: deps.clock.now(),
    });
    expect(again).toEqual({ status: 'succeeded' });
  });

  it('runs nothing when the approval is denied', async () => {
    const asked = await requestRemediation(
      deps,
      requester,
      { server: 'fix-host', check: 'marker.present' },
      { baseline },
    );
    await decide(deps, { actor: approver, requestId: asked.approvalId, decision: 'deny' });
    expect(await runRemediation(deps, asked.remediation.id, { baseline })).toMatchObject({
      status: 'denied',
      exitCode: null,
    });
  });

  it('refuses checks without a fix, unknown or hostile names, and people without baseline:remediate', async () => {
    await expect(
      requestRemediation(deps, requester, { server: 'fix-host', check: 'no.fix' }, { baseline }),
    ).rejects.toMatchObject({
      code: 'bad_request',
    });
    await expect(
      requestRemediation(deps, requester, { server: '; rm -rf /', check: 'marker.present' }),
    ).rejects.toMatchObject({
      code: 'not_found',
    });
    await expect(
      requestRemediation(deps, requester, { server: 'fix-host', check: '$(reboot)' }, { baseline }),
    ).rejects.toMatchObject({
      code: 'not_found',
    });
    await expect(
      requestRemediation(deps, approver, { server: 'fix-host', check: 'marker.present' }, { baseline }),
    ).rejects.toMatchObject({
      code: 'forbidden',
    });
  });

  it('answers in chat with the states and asks for remediation of the default baseline', async () => {
    const shown = await baselineCommand.run(parsedArgs(['fix-host']), commandContext(requester, deps));
    expect(shown.reply?.header).toBe('Baseline: server fix-host');
    expect(shown.reply?.items?.map((i) => i.text)).toEqual([
      '❌ no.fix: No automatic fix',
      '✅ marker.present: The marker file exists',
    ]);
    const refused = baselineRemediateCommand.run(
      parsedArgs(['fix-host', 'firewall.active']),
      commandContext(requester, deps),
    );
    await expect(refused).rejects.toThrow(/has no automatic remediation/);
  });

  it('puts a Remediate button on the drift alert of a check with a fix; the click opens its approval', async () => {
    const check = DEFAULT_LINUX_BASELINE.checks.find((c) => c.remediation)!;
    const host = await server();
    const alerted = await withTx(db.current.sql, (tx) =>
      alertBaselineDrift(tx, deps, {
        serverId: host.id,
        serverName: host.name,
        projectId: host.projectId,
        checkId: check.id,
        title: check.title,
        failingSince: deps.clock.now(),
        remediable: true,
      }),
    );
    expect(alerted).toBe(true);
    const [post] = await db.current.sql<{ payload: { reply: Reply } }[]>`
      select o.payload from outbox o join audit_events e on e.seq = o.audit_seq
      where e.action = 'compliance.alerted' and o.kind = 'channel-post' order by o.id desc limit 1`;
    const button = post!.payload.reply.buttons?.[0];
    expect(button).toEqual({
      label: `Remediate ${check.id} on fix-host`,
      actionId: 'baseline.remediate',
      value: JSON.stringify({ server: 'fix-host', check: check.id }),
    });
    // The click, routed as every adapter routes it: an approval opens, nothing runs yet.
    const spec = baselineActions.find((a) => button!.actionId.startsWith(a.prefix))!;
    const answer = await spec.run(
      click(requester, deps, button!.actionId, button!.value),
      commandContext(requester, deps),
    );
    expect(answer.reply?.text ?? '').toMatch(/approval #\d+/i);
    const [row] = await db.current.sql<{ status: string }[]>`
      select status from baseline_remediations where check_id = ${check.id} order by id desc limit 1`;
    expect(row!.status).toBe('awaiting-approval');

    // A check without a fix gets no button.
    await withTx(db.current.sql, (tx) =>
      alertBaselineDrift(tx, deps, {
        serverId: host.id,
        serverName: host.name,
        projectId: host.projectId,
        checkId: 'no.fix',
        title: 'No automatic fix',
        failingSince: deps.clock.now(),
        remediable: false,
      }),
    );
    const [plain] = await db.current.sql<{ payload: { reply: Reply } }[]>`
      select o.payload from outbox o join audit_events e on e.seq = o.audit_seq
      where e.action = 'compliance.alerted' and o.kind = 'channel-post' order by o.id desc limit 1`;
    expect(plain!.payload.reply.buttons).toBeUndefined();
  });
});
