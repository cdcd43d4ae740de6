import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTicketDeliverer } from '../../integrations/tickets/deliver.js';
import { startHarness, type TicketHarness } from '../../integrations/tickets/testing.js';
import { createOutboxWorker } from '../../jobs/outbox-worker.js';
import { createFakeClock } from '../../lib/clock.js';
import { silentLogger } from '../../lib/logger.js';
import { getTicketLink } from '../../storage/tickets.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { decide } from '../approvals/engine.js';
import { createActor, createProjectRow, uniqueHandle } from '../approvals/testing.js';
import type { Actor } from '../rbac/authorize.js';
import { requestAccess } from './request.js';
import { revokeGrant } from './revoke.js';
import { accessSubjects, addServer, makeKeyPair, recordingTargets, registerUserKey } from './testing.js';

const db = useTestDatabase('access_tickets');

describe('an access request that names a ticket', () => {
  const clock = createFakeClock('2026-03-02T10:00:00Z');
  let h: TicketHarness;
  let deps: TestDeps;
  let alice: Actor;
  let bob: Actor;
  let server: string;

  beforeAll(async () => {
    h = await startHarness('jira-cloud', clock);
    const { sql } = db.current;
    deps = createTestDeps(sql, {
      clock,
      tickets: h.tickets,
      approvalSubjects: accessSubjects(),
      targets: recordingTargets().factory,
    });
    const project = await createProjectRow(sql, uniqueHandle('tix'), { access: { defaultLogin: 'deploy' } });
    server = uniqueHandle('db');
    await addServer(sql, { name: server, projectId: project.id });
    alice = await createActor(sql, uniqueHandle('alice'), [['operator', project.id]]);
    bob = await createActor(sql, uniqueHandle('bob'), [['approver', project.id]]);
    await registerUserKey(deps, alice, makeKeyPair('alice').publicKey);
  });
  afterAll(async () => {
    await h.stop();
  });

  it('gets the approval, the grant and the revocation as comments on that ticket, once each', async () => {
    const key = h.seed('open');
    const outcome = await requestAccess(deps, alice, {
      target: server,
      duration: '2h',
      ticket: key,
      reason: 'rotate the replica; $(not a command)',
    });
    expect(
      (await getTicketLink(db.current.sql, { type: 'access-request', id: String(outcome.request.id) }))?.key,
    ).toBe(key);
    await decide(deps, { actor: bob, requestId: outcome.approval!.request.id, decision: 'approve' });
    const [grant] = await db.current.sql<{ id: number }[]>`
      select id from grants where request_id = ${outcome.request.id}`;
    await revokeGrant(deps, { actor: bob, grantId: grant!.id, reason: 'done early' });

    const worker = createOutboxWorker({
      sql: db.current.sql,
      clock,
      log: silentLogger(),
      deliverers: { ticket: createTicketDeliverer({ sql: db.current.sql, tickets: h.tickets, clock }) },
    });
    for (let i = 0; i < 10; i++) await worker.drainOnce();
    const comments = h.comments(key).join('\n---\n');
    expect(comments).toContain('approval.approved');
    expect(comments).toContain('access.granted');
    expect(comments).toContain('access.revoked');
    // In the order they happened, across the request, its approval and its grant.
    const order = ['approval.requested', 'approval.approved', 'access.granted', 'access.revoked'].map((a) =>
      comments.indexOf(`Warden: ${a} by`),
    );
    expect(order.every((at) => at >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    // Delivered exactly once: the same drains again add nothing.
    const count = h.comments(key).length;
    for (let i = 0; i < 3; i++) await worker.drainOnce();
    expect(h.comments(key)).toHaveLength(count);
    await worker.stop();
  });
});
