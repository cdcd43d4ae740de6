import { describe, expect, it } from 'vitest';
import { createFakeClock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import { type Sql, type Tx, withTx } from '../../storage/db.js';
import { useTestDatabase } from '../../test/db.js';
import { type AuditEvent, eventHash, GENESIS_HASH, recordEvent, type TrailDeps } from './trail.js';
import { type ChainReport, type VerifyOptions, verifyChain } from './verify.js';

const db = useTestDatabase('audit-verify');
const clock = createFakeClock('2026-03-01T08:00:00Z');
const deps: TrailDeps = { clock, chatPlatforms: [] };

async function write(sql: Sql, n: number, actor = 'user:alice'): Promise<void> {
  for (let i = 0; i < n; i++) {
    clock.advance(1000);
    await withTx(sql, (tx) =>
      recordEvent(tx, deps, {
        actor,
        action: 'server.created',
        subject: { type: 'server', id: `web-${i}` },
        projectId: null,
        data: { name: `web-${i}`, tags: { env: 'prod' } },
        requestId: `req-${i}`,
      }),
    );
  }
}

class Rollback extends Error {}

/**
 * Tamper as a database superuser would (user triggers off), verify inside the same transaction,
 * then roll everything back so the next test starts from the untouched trail.
 */
async function tamperAndVerify(
  fn: (tx: Tx) => Promise<unknown>,
  options: VerifyOptions = { batchSize: 4 },
): Promise<ChainReport> {
  let report: ChainReport | undefined;
  await withTx(db.current.sql, async (tx) => {
    await tx.unsafe('alter table audit_events disable trigger user');
    await tx.unsafe('alter table audit_head disable trigger user');
    await fn(tx);
    report = await verifyChain(tx, options);
    throw new Rollback();
  }).catch((error: unknown) => {
    if (!(error instanceof Rollback)) throw error;
  });
  return report!;
}

async function readEvent(sql: Sql | Tx, seq: number): Promise<AuditEvent> {
  const [row] = await sql<AuditEvent[]>`
    select seq, at, actor, action, subject_type as "subjectType", subject_id as "subjectId",
      project_id as "projectId", data, request_id as "requestId", prev_hash as "prevHash", hash
    from audit_events where seq = ${seq}`;
  return row!;
}

async function insertEvent(tx: Tx, e: AuditEvent): Promise<void> {
  await tx`
    insert into audit_events (seq, at, actor, action, subject_type, subject_id, project_id, data, request_id,
                              prev_hash, hash)
    values (${e.seq}, ${e.at}, ${e.actor}, ${e.action}, ${e.subjectType}, ${e.subjectId}, ${e.projectId},
            ${tx.json(e.data as never)}, ${e.requestId}, ${e.prevHash}, ${e.hash})`;
}

describe('verifyChain', () => {
  it('verifies an empty trail', async () => {
    expect(await verifyChain(db.current.sql)).toEqual({ ok: true, checked: 0, headSeq: 0 });
  });

  it('verifies an untouched trail read in small batches', async () => {
    await write(db.current.sql, 6);
    expect(await verifyChain(db.current.sql, { batchSize: 4 })).toEqual({ ok: true, checked: 6, headSeq: 6 });
    expect(await verifyChain(db.current.sql, { batchSize: 1 })).toEqual({ ok: true, checked: 6, headSeq: 6 });
    expect(await verifyChain(db.current.sql, { batchSize: 6 })).toEqual({ ok: true, checked: 6, headSeq: 6 });
  });

  it('catches an event edited after it was written', async () => {
    const report = await tamperAndVerify(
      (tx) => tx`update audit_events set data = ${tx.json({ name: 'evil' })} where seq = 5`,
    );
    expect(report).toEqual({
      ok: false,
      checked: 4,
      headSeq: 6,
      firstBroken: {
        seq: 5,
        problem: 'edited',
        detail: "event 5's contents no longer match its hash: it was edited after it was written",
      },
    });
  });

  it.each([
    ['actor', "actor = 'user:mallory'"],
    ['action', "action = 'server.deleted'"],
    ['data', `data = '{"name":"web-2","tags":{"env":"dev"}}'::jsonb`],
    ['at', "at = at + interval '1 millisecond'"],
    ['subject type', "subject_type = 'grant'"],
    ['subject id', "subject_id = 'web-9'"],
    ['project', 'project_id = 1'],
    ['request id', "request_id = 'req-x'"],
    ['prev hash', `prev_hash = '${'f'.repeat(64)}'`],
  ])('breaks the chain when the %s of an event changes', async (_field, assignment) => {
    const report = await tamperAndVerify((tx) =>
      tx.unsafe(`update audit_events set ${assignment} where seq = 3`),
    );
    expect(report.ok).toBe(false);
    expect(report.firstBroken?.seq).toBe(3);
    expect(report.firstBroken?.problem).toBe('edited');
  });

  it('hashes every field of an event and the previous hash', async () => {
    const e = await readEvent(db.current.sql, 2);
    const base = eventHash(e.prevHash, e);
    expect(base).toBe(e.hash);
    const variants: Partial<AuditEvent>[] = [
      { seq: 3 },
      { at: new Date(e.at.getTime() + 1) },
      { actor: 'user:bob' },
      { action: 'server.updated' },
      { subjectType: null },
      { subjectId: 'web-1 ' },
      { projectId: 7 },
      { data: { ...e.data, extra: true } },
      { requestId: null },
    ];
    for (const v of variants) expect(eventHash(e.prevHash, { ...e, ...v })).not.toBe(base);
    expect(eventHash(GENESIS_HASH, e)).not.toBe(base);
  });

  it('catches an event deleted from the middle', async () => {
    const report = await tamperAndVerify((tx) => tx`delete from audit_events where seq = 3`);
    expect(report.firstBroken).toEqual({
      seq: 3,
      problem: 'deleted',
      detail: 'event 3 is missing: the trail jumps from event 2 to event 4, so it was deleted',
    });
    expect(report.checked).toBe(2);
  });

  it('catches the first events deleted', async () => {
    const report = await tamperAndVerify((tx) => tx`delete from audit_events where seq <= 2`);
    expect(report.firstBroken).toMatchObject({ seq: 1, problem: 'deleted' });
    expect(report.firstBroken?.detail).toBe(
      'events 1 to 2 are missing: the trail starts at event 3, so it was deleted',
    );
  });

  it('catches the last event deleted', async () => {
    const report = await tamperAndVerify((tx) => tx`delete from audit_events where seq = 6`);
    expect(report).toMatchObject({ ok: false, checked: 5, headSeq: 6 });
    expect(report.firstBroken).toMatchObject({ seq: 6, problem: 'deleted' });
    expect(report.firstBroken?.detail).toContain(
      'the audit head records 6 events but the trail ends at event 5',
    );
  });

  it('catches a forged event appended with a correct-looking prev_hash', async () => {
    const report = await tamperAndVerify(async (tx) => {
      const last = await readEvent(tx, 6);
      const forged = { ...last, seq: 7, actor: 'user:mallory', prevHash: last.hash };
      await insertEvent(tx, { ...forged, hash: eventHash(last.hash, forged) });
    });
    expect(report).toMatchObject({ ok: false, checked: 7, headSeq: 6 });
    expect(report.firstBroken).toMatchObject({ seq: 7, problem: 'inserted' });
    expect(report.firstBroken?.detail).toContain('never recorded by the audit head');
  });

  it('catches a forged event put in place of a deleted one', async () => {
    const report = await tamperAndVerify(async (tx) => {
      const before = await readEvent(tx, 2);
      const original = await readEvent(tx, 3);
      await tx`delete from audit_events where seq = 3`;
      const forged = { ...original, actor: 'user:mallory', data: { covered: 'up' }, prevHash: before.hash };
      await insertEvent(tx, { ...forged, hash: eventHash(before.hash, forged) });
    });
    expect(report.firstBroken).toMatchObject({ seq: 3, problem: 'inserted' });
    expect(report.firstBroken?.detail).toContain('event 3 is not the event that event 4 was chained to');
    expect(report.checked).toBe(3);
  });

  it('catches two events swapped', async () => {
    const report = await tamperAndVerify(async (tx) => {
      await tx`update audit_events set seq = -3 where seq = 3`;
      await tx`update audit_events set seq = 3 where seq = 4`;
      await tx`update audit_events set seq = 4 where seq = -3`;
    });
    expect(report.firstBroken).toEqual({
      seq: 3,
      problem: 'reordered',
      detail: 'event 3 was written after event 4, which now comes after it: the events were reordered',
    });
  });

  it('catches an audit head that does not match the last event', async () => {
    const report = await tamperAndVerify((tx) => tx`update audit_head set hash = ${'a'.repeat(64)}`);
    expect(report).toMatchObject({ ok: false, checked: 6, headSeq: 6 });
    expect(report.firstBroken).toMatchObject({ seq: 6, problem: 'head-mismatch' });
  });

  it('verifies from a later event, anchored on the one before it', async () => {
    expect(await verifyChain(db.current.sql, { fromSeq: 4, batchSize: 2 })).toEqual({
      ok: true,
      checked: 4,
      headSeq: 6,
    });
    expect(await verifyChain(db.current.sql, { fromSeq: 7 })).toEqual({ ok: true, checked: 1, headSeq: 6 });
    const report = await tamperAndVerify(
      (tx) => tx`update audit_events set actor = 'user:mallory' where seq = 3`,
      {
        fromSeq: 4,
      },
    );
    expect(report).toMatchObject({ ok: false, checked: 0, firstBroken: { seq: 3, problem: 'edited' } });
    await expect(verifyChain(db.current.sql, { fromSeq: 9 })).rejects.toBeInstanceOf(AppError);
  });

  it('refuses a plain UPDATE, DELETE or TRUNCATE of the trail, and moving the head back', async () => {
    const sql = db.current.sql;
    await expect(sql`update audit_events set actor = 'user:mallory' where seq = 1`).rejects.toThrow(
      /append-only/,
    );
    await expect(sql`delete from audit_events where seq = 6`).rejects.toThrow(/append-only/);
    await expect(sql`truncate audit_events`).rejects.toThrow(/append-only/);
    await expect(sql`update audit_head set seq = 5`).rejects.toThrow(/only moves forward/);
    await expect(sql`delete from audit_head`).rejects.toThrow(/only moves forward/);
    expect(await verifyChain(sql)).toEqual({ ok: true, checked: 6, headSeq: 6 });
  });

  it('never forks the chain when two replicas write at once', async () => {
    const a = db.current.connectAgain();
    const b = db.current.connectAgain();
    const writeOne = (sql: Sql, who: string, i: number) =>
      withTx(sql, (tx) =>
        recordEvent(tx, deps, { actor: `user:${who}`, action: 'test.concurrent', data: { i } }),
      );
    const results = await Promise.all([
      ...Array.from({ length: 50 }, (_, i) => writeOne(a, 'alice', i)),
      ...Array.from({ length: 50 }, (_, i) => writeOne(b, 'bob', i)),
    ]);
    const seqs = results.map((r) => r.seq).sort((x, y) => x - y);
    expect(seqs).toEqual(Array.from({ length: 100 }, (_, i) => i + 7));
    const stored = await db.current.sql<{ seq: number }[]>`select seq from audit_events order by seq`;
    expect(stored.map((r) => r.seq)).toEqual(Array.from({ length: 106 }, (_, i) => i + 1));
    expect(await verifyChain(db.current.sql, { batchSize: 17 })).toEqual({
      ok: true,
      checked: 106,
      headSeq: 106,
    });
    await Promise.all([a.end(), b.end()]);
  });
});
