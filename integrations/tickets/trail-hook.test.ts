import { describe, expect, it } from 'vitest';
import { recordEvent } from '../../commands/audit/trail.js';
import { withTx } from '../../storage/db.js';
import { createUser } from '../../storage/users.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps } from '../../test/deps.js';
import { linkTicket, ticketOrderingKey } from './subjects.js';

const db = useTestDatabase('ticket_hook');

interface Row {
  kind: string;
  payload: { key?: string; text: string; subject: { type: string; id: string } };
  ordering_key: string;
}

async function ticketRows(since: number): Promise<Row[]> {
  return db.current.sql<Row[]>`
    select kind, payload, ordering_key from outbox where channel = 'ticket' and id > ${since} order by id`;
}

async function lastOutboxId(): Promise<number> {
  const [row] = await db.current.sql<{ id: number | null }[]>`select max(id) as id from outbox`;
  return row?.id ?? 0;
}

describe('trail events about a subject with a ticket', () => {
  it('become comments on the ticket, including events about the approval that decides it', async () => {
    const deps = createTestDeps(db.current.sql);
    const requester = await createUser(db.current.sql, { handle: 'hookie', displayName: 'Hookie' });
    const access = { type: 'access-request', id: '41' };
    const approvalId = await withTx(db.current.sql, async (tx) => {
      await linkTicket(tx, deps, {
        subject: access,
        ticket: { system: 'jira', key: 'OPS-12', url: 'https://jira.example/browse/OPS-12' },
        actor: 'user:hookie',
      });
      const [row] = await tx<{ id: number }[]>`
        insert into approval_requests (subject_type, subject_id, requester_id, permission, title, expires_at, created_at)
        values ('access-request', '41', ${requester.id}, 'access:approve', 'ssh to web-01', now() + interval '1 day', now())
        returning id`;
      return row!.id;
    });
    const before = await lastOutboxId();
    await withTx(db.current.sql, async (tx) => {
      await recordEvent(tx, deps, {
        actor: 'user:bob',
        action: 'approval.approved',
        subject: { type: 'approval', id: String(approvalId) },
        data: { reason: '$(reboot); rm -rf /' },
      });
      await recordEvent(tx, deps, { actor: 'job:grants-expire', action: 'access.expired', subject: access });
    });
    const rows = await ticketRows(before);
    expect(rows.map((r) => [r.kind, r.payload.key, r.ordering_key])).toEqual([
      ['ticket.comment', 'OPS-12', 'ticket:jira:OPS-12'],
      ['ticket.comment', 'OPS-12', 'ticket:jira:OPS-12'],
    ]);
    expect(rows[0]!.payload.text).toContain('approval.approved by user:bob');
    // Hostile text travels as data inside the comment, nothing more.
    expect(rows[0]!.payload.text).toContain('$(reboot); rm -rf /');
    expect(rows[1]!.payload.text).toContain('access.expired');
  });

  it('leave alone subjects the caller already wrote a ticket item for, ticket events, and subjects without one', async () => {
    const deps = createTestDeps(db.current.sql);
    const plan = { type: 'patch-plan', id: '9' };
    await withTx(db.current.sql, (tx) =>
      linkTicket(tx, deps, {
        subject: plan,
        ticket: { system: 'jira', key: 'CHG-1', url: 'https://jira.example/browse/CHG-1' },
        actor: 'system',
      }),
    );
    const before = await lastOutboxId();
    await withTx(db.current.sql, async (tx) => {
      await recordEvent(
        tx,
        deps,
        { actor: 'system', action: 'patch.started', subject: plan },
        [],
        [
          {
            channel: 'ticket',
            kind: 'ticket.transition',
            payload: { subject: plan, key: 'CHG-1', text: 'started', to: 'in-progress' },
            orderingKey: ticketOrderingKey(plan),
          },
        ],
      );
      await recordEvent(tx, deps, { actor: 'system', action: 'ticket.closed', subject: plan });
      await recordEvent(tx, deps, {
        actor: 'system',
        action: 'server.created',
        subject: { type: 'server', id: '3' },
      });
    });
    expect((await ticketRows(before)).map((r) => r.kind)).toEqual(['ticket.transition']);
  });
});
