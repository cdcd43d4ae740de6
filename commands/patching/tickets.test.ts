import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTicketDeliverer } from '../../integrations/tickets/deliver.js';
import { startHarness, type TicketHarness } from '../../integrations/tickets/testing.js';
import { createOutboxWorker, type OutboxWorker } from '../../jobs/outbox-worker.js';
import { createFakeClock } from '../../lib/clock.js';
import { silentLogger } from '../../lib/logger.js';
import { withTx } from '../../storage/db.js';
import { getTicketLink } from '../../storage/tickets.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { decide } from '../approvals/engine.js';
import { finding } from '../scanning/testing.js';
import { buildPlan } from './build.js';
import { cancelPlan } from './cancel.js';
import { setPlanStatus } from './plans.js';
import { planSubject } from './render.js';
import { createTestFleet, patchApprovalSubjectMap } from './testing.js';

const db = useTestDatabase('patch-tickets');
let deps: TestDeps;
let h: TicketHarness;
let worker: OutboxWorker;

const openssl = finding('openssl', {
  installedVersion: '3.0.11-1',
  candidateVersion: '3.0.13-1',
  classification: 'security',
  severity: 'critical',
  cves: ['CVE-2024-0727'],
});
const POLICY = { windows: [{ cron: '0 2 * * 6', timezone: 'UTC', durationMinutes: 120 }] };

beforeAll(async () => {
  const clock = createFakeClock('2026-01-05T09:00:00Z');
  h = await startHarness('jira-cloud', clock);
  deps = createTestDeps(db.current.sql, {
    clock,
    chatPlatforms: [],
    tickets: h.tickets,
    approvalSubjects: patchApprovalSubjectMap(),
  });
  worker = createOutboxWorker({
    sql: deps.sql,
    clock,
    log: silentLogger(),
    deliverers: { ticket: createTicketDeliverer({ sql: deps.sql, tickets: h.tickets, clock }) },
  });
});
afterEach(() => h.server.verify());
afterAll(async () => {
  await worker.stop();
  await h.stop();
});

/** Deliver every ticket item (the fake never fails here, so one pass per ordering step is enough). */
async function drain(): Promise<void> {
  for (let round = 0; round < 10; round++) {
    await worker.drainOnce();
    const [left] = await deps.sql<{ n: number }[]>`
      select count(*)::int as n from outbox where channel = 'ticket' and status = 'pending'`;
    if (left!.n === 0) return;
  }
  throw new Error('ticket items were left in the outbox');
}

describe('the change request of a plan', () => {
  it('is opened with the plan when it is built and moved on approval, start and completion, with the report', async () => {
    const fleet = await createTestFleet(deps, {
      servers: [{ name: 'cr-1', findings: [openssl] }],
      policy: POLICY,
    });
    const before = h.keys().length;
    const built = await buildPlan(deps, fleet.planner, { project: fleet.project.slug });
    if (built.outcome !== 'created') throw new Error(built.outcome);
    await drain();
    expect(h.keys()).toHaveLength(before + 1);
    const link = (await getTicketLink(deps.sql, planSubject(built.plan.id)))!;
    expect(link.key).toBe(h.keys().at(-1));
    expect(h.status(link.key)).toBe('Open');

    await decide(deps, {
      actor: fleet.approver,
      requestId: built.plan.approvalRequestId!,
      decision: 'approve',
    });
    await drain();
    expect(h.history(link.key)).toEqual(['Approve']);
    expect(h.comments(link.key).join('\n')).toMatch(/Scheduled: Sat 2026-01-10 02:00–04:00 UTC/);

    await withTx(deps.sql, (tx) => setPlanStatus(tx, deps, built.plan.id, 'running', 'job:patch-run'));
    await withTx(deps.sql, (tx) =>
      setPlanStatus(tx, deps, built.plan.id, 'succeeded', 'job:patch-run', {
        text: 'Report: cr-1 openssl 3.0.11-1 → 3.0.13-1 installed',
      }),
    );
    await drain();
    expect(h.history(link.key)).toEqual(h.wholeLife);
    expect(h.comments(link.key).join('\n')).toContain('Report: cr-1 openssl 3.0.11-1 → 3.0.13-1 installed');
  });

  it('is cancelled with the plan', async () => {
    const fleet = await createTestFleet(deps, {
      servers: [{ name: 'cr-2', findings: [openssl] }],
      policy: POLICY,
    });
    const built = await buildPlan(deps, fleet.planner, { project: fleet.project.slug });
    if (built.outcome !== 'created') throw new Error(built.outcome);
    await cancelPlan(deps, fleet.planner, { planId: built.plan.id, reason: 'freeze week' });
    await drain();
    const link = (await getTicketLink(deps.sql, planSubject(built.plan.id)))!;
    expect(h.history(link.key)).toEqual(['Cancel']);
    expect(h.comments(link.key).join('\n')).toContain('freeze week');
  });
});
