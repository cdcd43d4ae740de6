import { AppError } from '../../lib/errors.js';
import type { Queryable } from '../../storage/db.js';
import { type AuditEvent, eventHash, GENESIS_HASH } from './trail.js';

/**
 * The audit verifier: walks the whole trail in seq order, a batch at a time (memory stays
 * bounded however long the trail is), recomputes every hash and checks every link, and says in a
 * sentence what was done to the first event that does not fit.
 *
 * It needs no long transaction: a writer commits an event and the head together, and the head is
 * only compared once every event up to it has been read, so a trail that grows while it is being
 * verified still verifies.
 */
export type ChainProblem = 'edited' | 'deleted' | 'inserted' | 'reordered' | 'head-mismatch';

export interface ChainReport {
  ok: boolean;
  /** Events whose hash and link were checked and found sound. */
  checked: number;
  /** The sequence number the audit head records as the last event. */
  headSeq: number;
  firstBroken?: { seq: number; problem: ChainProblem; detail: string };
}

export interface VerifyOptions {
  /** Start here instead of at event 1; the event before it anchors the chain (and is checked too). */
  fromSeq?: number;
  batchSize?: number;
}

type EventRow = AuditEvent;

const columns = (sql: Queryable) => sql`
  seq, at, actor, action, subject_type as "subjectType", subject_id as "subjectId", project_id as "projectId",
  data, request_id as "requestId", prev_hash as "prevHash", hash`;

async function eventsAfter(sql: Queryable, after: number, limit: number): Promise<EventRow[]> {
  return sql<
    EventRow[]
  >`select ${columns(sql)} from audit_events where seq > ${after} order by seq limit ${limit}`;
}

async function eventAt(sql: Queryable, seq: number): Promise<EventRow | undefined> {
  const [row] = await sql<EventRow[]>`select ${columns(sql)} from audit_events where seq = ${seq}`;
  return row;
}

async function seqOfHash(sql: Queryable, hash: string): Promise<number | undefined> {
  const [row] = await sql<{ seq: number }[]>`select seq from audit_events where hash = ${hash}`;
  return row?.seq;
}

async function readHead(sql: Queryable): Promise<{ seq: number; hash: string }> {
  const [head] = await sql<{ seq: number; hash: string }[]>`select seq, hash from audit_head where singleton`;
  return head ?? { seq: 0, hash: '' };
}

function recompute(e: EventRow): string {
  return eventHash(e.prevHash, e);
}

type Broken = NonNullable<ChainReport['firstBroken']>;

/**
 * Why does event `e` (found where event `expectedSeq` should be) not fit after a chain whose
 * last sound hash is `prevHash`? Undefined when it fits.
 */
async function diagnose(
  sql: Queryable,
  e: EventRow,
  expectedSeq: number,
  prevHash: string,
): Promise<Broken | undefined> {
  if (e.seq > expectedSeq) {
    const missing =
      e.seq - expectedSeq === 1
        ? `event ${expectedSeq} is missing`
        : `events ${expectedSeq} to ${e.seq - 1} are missing`;
    const jump =
      expectedSeq === 1
        ? `the trail starts at event ${e.seq}`
        : `the trail jumps from event ${expectedSeq - 1} to event ${e.seq}`;
    return { seq: expectedSeq, problem: 'deleted', detail: `${missing}: ${jump}, so it was deleted` };
  }
  const selfConsistent = recompute(e) === e.hash;
  if (selfConsistent && e.prevHash === prevHash) return undefined;

  // A moved event still names the event it was chained after; if that one now comes later in
  // the trail, the order was changed.
  const pointsTo = await seqOfHash(sql, e.prevHash);
  if (pointsTo !== undefined && pointsTo >= e.seq) {
    return {
      seq: e.seq,
      problem: 'reordered',
      detail: `event ${e.seq} was written after event ${pointsTo}, which now comes after it: the events were reordered`,
    };
  }
  if (!selfConsistent) {
    return {
      seq: e.seq,
      problem: 'edited',
      detail: `event ${e.seq}'s contents no longer match its hash: it was edited after it was written`,
    };
  }
  if (expectedSeq === 1) {
    return {
      seq: 1,
      problem: 'inserted',
      detail:
        'event 1 does not start from the genesis hash: the start of the trail was replaced by a forged one',
    };
  }
  // The event before this one checks out on its own and links back correctly, yet this event
  // was chained to a different one: what is stored there now was forged with a recomputed hash.
  const forged = expectedSeq - 1;
  return {
    seq: forged,
    problem: 'inserted',
    detail:
      `event ${forged} is not the event that event ${e.seq} was chained to: although its own hash and link look ` +
      `right, it was forged and put in place of the original`,
  };
}

/**
 * Verify the hash chain of the audit trail, from event 1 (or `fromSeq`) to the audit head.
 *
 * @example
 * const report = await verifyChain(deps.sql);
 * if (!report.ok) log.error(report.firstBroken, 'the audit trail was tampered with');
 */
export async function verifyChain(sql: Queryable, options: VerifyOptions = {}): Promise<ChainReport> {
  const batchSize = Math.max(1, Math.floor(options.batchSize ?? 1000));
  const fromSeq = Math.max(1, Math.floor(options.fromSeq ?? 1));
  let checked = 0;
  let lastSeq = 0;
  let prevHash = GENESIS_HASH;
  const broken = async (b: Broken): Promise<ChainReport> => ({
    ok: false,
    checked,
    headSeq: (await readHead(sql)).seq,
    firstBroken: b,
  });

  if (fromSeq > 1) {
    const head = await readHead(sql);
    if (fromSeq - 1 > head.seq) {
      throw new AppError(
        'bad_request',
        `verification cannot start at event ${fromSeq}: the trail ends at event ${head.seq}; pick a number up to ${head.seq + 1}`,
      );
    }
    const anchor = await eventAt(sql, fromSeq - 1);
    if (!anchor) {
      return broken({
        seq: fromSeq - 1,
        problem: 'deleted',
        detail: `event ${fromSeq - 1}, where verification was asked to start from, is missing: it was deleted`,
      });
    }
    if (recompute(anchor) !== anchor.hash) {
      const problem = await diagnose(sql, anchor, anchor.seq, anchor.prevHash);
      if (problem) return broken(problem);
    }
    checked = 1;
    lastSeq = anchor.seq;
    prevHash = anchor.hash;
  }

  for (;;) {
    const batch = await eventsAfter(sql, lastSeq, batchSize);
    for (const e of batch) {
      const problem = await diagnose(sql, e, lastSeq + 1, prevHash);
      if (problem) return broken(problem);
      checked++;
      lastSeq = e.seq;
      prevHash = e.hash;
    }
    if (batch.length === batchSize) continue;

    // Every event is read: now the head must name the last one. A head further on means a writer
    // committed after the last batch (read on), or the last events were deleted.
    const head = await readHead(sql);
    if (head.seq > lastSeq) {
      if ((await eventsAfter(sql, lastSeq, 1)).length > 0) continue;
      const missing =
        head.seq === lastSeq + 1
          ? `event ${head.seq} is missing`
          : `events ${lastSeq + 1} to ${head.seq} are missing`;
      return broken({
        seq: lastSeq + 1,
        problem: 'deleted',
        detail: `${missing}: the audit head records ${head.seq} events but the trail ends at event ${lastSeq}, so the last events were deleted`,
      });
    }
    if (head.seq < lastSeq) {
      return broken({
        seq: head.seq + 1,
        problem: 'inserted',
        detail: `event ${head.seq + 1} was never recorded by the audit head (which ends at event ${head.seq}): it was inserted behind the trail's back`,
      });
    }
    if (head.hash !== prevHash) {
      return broken({
        seq: head.seq,
        problem: 'head-mismatch',
        detail: `the audit head's hash for event ${head.seq} is not the hash of the stored event ${head.seq}: the head or the last event was replaced`,
      });
    }
    return { ok: true, checked, headSeq: head.seq };
  }
}
