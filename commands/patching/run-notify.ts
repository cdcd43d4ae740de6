import type { Notification, Reply } from '../../bot/chat/model.js';
import { ticketOutboxFor } from '../../integrations/tickets/subjects.js';
import type { TicketTransition } from '../../integrations/tickets/types.js';
import type { Tx } from '../../storage/db.js';
import {
  haltRun,
  insertProgressOutbox,
  nextProgressSeq,
  type RunServerRow,
} from '../../storage/patch-runs.js';
import { recordEvent, subjectOrderingKey } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { planSubject } from './render.js';

/**
 * What a run tells people: trail events (with a thread reply in the plan's thread and a comment on
 * its change request), and throttled progress replies that are not worth an audit event each.
 */

export interface RunEvent {
  actor: string;
  action: string;
  planId: number;
  projectId: number | null;
  data?: Record<string, unknown>;
  /** A reply in the plan's thread. */
  thread?: Reply;
  /** A comment on the plan's change request (and a transition, when given). */
  ticket?: { text: string; transition?: TicketTransition };
}

/** One trail event with its thread reply and ticket comment, in the caller's transaction. */
export async function recordRunEvent(tx: Tx, deps: Deps, event: RunEvent): Promise<void> {
  const subject = planSubject(event.planId);
  const notifications: Notification[] = event.thread
    ? [{ kind: 'thread-reply', subject, projectId: event.projectId, reply: event.thread }]
    : [];
  const ticket = event.ticket
    ? await ticketOutboxFor(tx, subject, {
        actor: event.actor,
        action: event.action,
        text: event.ticket.text,
        ...(event.ticket.transition ? { transition: event.ticket.transition } : {}),
      })
    : [];
  await recordEvent(
    tx,
    deps,
    {
      actor: event.actor,
      action: event.action,
      subject,
      projectId: event.projectId,
      data: { planId: event.planId, ...event.data },
    },
    notifications,
    ticket,
  );
}

export interface StateCounts {
  total: number;
  done: number;
  succeeded: number;
  failed: number;
  rolledBack: number;
  skipped: number;
  running: number;
}

export function countStates(rows: readonly Pick<RunServerRow, 'state'>[]): StateCounts {
  const counts: StateCounts = {
    total: rows.length,
    done: 0,
    succeeded: 0,
    failed: 0,
    rolledBack: 0,
    skipped: 0,
    running: 0,
  };
  for (const { state } of rows) {
    if (state === 'succeeded') counts.succeeded++;
    else if (state === 'failed') counts.failed++;
    else if (state === 'rolled-back') counts.rolledBack++;
    else if (state === 'skipped-cutoff' || state === 'skipped-halted') counts.skipped++;
    else if (state !== 'pending') counts.running++;
  }
  counts.done = counts.succeeded + counts.failed + counts.rolledBack + counts.skipped;
  return counts;
}

export function countsText(c: StateCounts): string {
  const parts = [`${c.done} of ${c.total} servers done`, `${c.succeeded} succeeded`];
  if (c.failed) parts.push(`${c.failed} failed`);
  if (c.rolledBack) parts.push(`${c.rolledBack} rolled back`);
  if (c.skipped) parts.push(`${c.skipped} skipped`);
  if (c.running) parts.push(`${c.running} in progress`);
  return parts.join(', ');
}

/**
 * Progress replies at most every `intervalMs` (by deps.clock), unless forced (ring boundaries).
 * Each goes straight to the outbox under a sequence number kept on the run row, so a resumed
 * run never reuses a key.
 */
export interface ProgressPoster {
  post(rows: readonly RunServerRow[], heading: string, force?: boolean): Promise<void>;
}

export function createProgressPoster(
  deps: Deps,
  input: { planId: number; projectId: number; intervalMs: number },
): ProgressPoster {
  let last = Number.NEGATIVE_INFINITY;
  return {
    async post(rows, heading, force = false) {
      const now = deps.clock.now();
      if (!force && now.getTime() - last < input.intervalMs) return;
      last = now.getTime();
      const subject = planSubject(input.planId);
      const notification: Notification = {
        kind: 'thread-reply',
        subject,
        projectId: input.projectId,
        reply: { visibility: 'public', text: `${heading}: ${countsText(countStates(rows))}.` },
      };
      const seq = await nextProgressSeq(deps.sql, input.planId);
      await insertProgressOutbox(
        deps.sql,
        deps.chatPlatforms.map((platform) => ({
          channel: platform,
          kind: notification.kind,
          payload: notification as unknown as Record<string, unknown>,
          idempotencyKey: `patch-run:${input.planId}:progress:${seq}:${platform}`,
          orderingKey: subjectOrderingKey(platform, subject),
        })),
        now,
      );
      deps.kickOutbox?.();
    },
  };
}

/**
 * Records a halt once (the run row, the trail, the thread and the change request); false when the
 * run was already halted or is over. The run stops starting servers at its next turn.
 */
export async function recordHalt(
  tx: Tx,
  deps: Deps,
  input: { planId: number; projectId: number | null; reason: string; by: string },
): Promise<boolean> {
  const halted = await haltRun(tx, {
    planId: input.planId,
    reason: input.reason,
    by: input.by,
    at: deps.clock.now(),
  });
  if (!halted) return false;
  const text = `Patching halted: ${input.reason}. Servers not started yet will not be; those in progress finish.`;
  await recordRunEvent(tx, deps, {
    actor: input.by,
    action: 'patch.run-halted',
    planId: input.planId,
    projectId: input.projectId,
    data: { reason: input.reason },
    thread: { visibility: 'public', tone: 'warning', text },
    ticket: { text },
  });
  return true;
}
