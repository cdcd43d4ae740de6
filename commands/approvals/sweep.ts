import {
  type ApprovalRequest,
  listApprovalDecisions,
  listDueApprovalIds,
  lockApprovalRequest,
  markApprovalEscalated,
  markApprovalReminded,
} from '../../storage/approvals.js';
import { type Tx, withTx } from '../../storage/db.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { formatUtc } from './render.js';
import {
  approvalRef,
  direct,
  eligibleApprovers,
  finishRequest,
  loadView,
  messageUpdate,
  threadReply,
} from './state.js';

export interface SweepResult {
  expired: number[];
  reminded: number[];
  escalated: number[];
  /** Requests whose step failed (logged); the next sweep tries them again. */
  failed: number[];
}

const SWEEP_ACTOR = 'job:approvals-sweep';

/**
 * Expire overdue requests, send each reminder and escalation once. Every request is handled in
 * its own transaction with its row locked, and each step is re-checked under the lock and
 * stamped (`reminded_at`, `escalated_at`, the final status), so two sweeps, on one replica or
 * two, never send anything twice.
 */
export async function sweepApprovals(deps: Deps, options: { limit?: number } = {}): Promise<SweepResult> {
  const result: SweepResult = { expired: [], reminded: [], escalated: [], failed: [] };
  const ids = await listDueApprovalIds(deps.sql, deps.clock.now(), options.limit);
  for (const id of ids) {
    try {
      const step = await withTx(deps.sql, (tx) => sweepOne(tx, deps, id));
      if (step) result[step].push(id);
    } catch (error) {
      // One broken subject hook must not stop the others from expiring on time.
      result.failed.push(id);
      deps.log.error(
        { err: error, requestId: id },
        'approval sweep step failed; will retry on the next sweep',
      );
    }
  }
  if (result.expired.length + result.reminded.length + result.escalated.length > 0) deps.kickOutbox?.();
  return result;
}

async function sweepOne(
  tx: Tx,
  deps: Deps,
  id: number,
): Promise<'expired' | 'reminded' | 'escalated' | undefined> {
  const request = await lockApprovalRequest(tx, id);
  if (!request || request.status !== 'pending') return undefined;
  const now = deps.clock.now();
  if (request.expiresAt <= now) {
    await finishRequest(tx, deps, request, { status: 'expired', actor: SWEEP_ACTOR, reason: null });
    return 'expired';
  }
  if (request.escalateAt && request.escalateAt <= now && !request.escalatedAt) {
    await escalate(tx, deps, request, now);
    return 'escalated';
  }
  if (request.remindAt && request.remindAt <= now && !request.remindedAt) {
    await remind(tx, deps, request, now);
    return 'reminded';
  }
  return undefined;
}

async function undecided(tx: Tx, request: ApprovalRequest, which: 'approvers' | 'escalation') {
  const decided = new Set((await listApprovalDecisions(tx, request.id)).map((d) => d.approverId));
  return (await eligibleApprovers(tx, request, which)).filter((u) => !decided.has(u.id));
}

async function remind(tx: Tx, deps: Deps, request: ApprovalRequest, now: Date): Promise<void> {
  await markApprovalReminded(tx, request.id, now);
  const people = await undecided(tx, request, 'approvers');
  const text = `Reminder: approval #${request.id} (${request.title}) is still waiting and expires ${formatUtc(request.expiresAt)}.`;
  await recordEvent(
    tx,
    deps,
    {
      actor: SWEEP_ACTOR,
      action: 'approval.reminded',
      subject: approvalRef(request.id),
      projectId: request.projectId,
      data: { to: people.map((u) => u.handle) },
    },
    [
      threadReply(
        request,
        `${text} ${people.length ? `Waiting on: ${people.map((u) => u.handle).join(', ')}.` : ''}`.trim(),
        'warning',
      ),
      ...people.map((u) =>
        direct(u.id, `${text} Approve or deny it from its message, or type \`approve ${request.id}\`.`),
      ),
    ],
  );
}

async function escalate(tx: Tx, deps: Deps, request: ApprovalRequest, now: Date): Promise<void> {
  await markApprovalEscalated(tx, request.id, now);
  // An escalation supersedes a reminder that was never sent: one nudge per step, not two at once.
  await markApprovalReminded(tx, request.id, now);
  const escalated = { ...request, escalatedAt: now, remindedAt: request.remindedAt ?? now };
  const people = await undecided(tx, escalated, 'escalation');
  const view = await loadView(tx, escalated);
  const permission = request.escalationPermission ?? 'approvals:escalation';
  const text = `Escalated: approval #${request.id} (${request.title}) has waited since ${formatUtc(request.createdAt)} and expires ${formatUtc(request.expiresAt)}. Holders of ${permission} may now decide it.`;
  await recordEvent(
    tx,
    deps,
    {
      actor: SWEEP_ACTOR,
      action: 'approval.escalated',
      subject: approvalRef(request.id),
      projectId: request.projectId,
      data: { to: people.map((u) => u.handle), permission },
    },
    [
      messageUpdate(view),
      threadReply(
        request,
        `${text}${people.length ? ` Notified: ${people.map((u) => u.handle).join(', ')}.` : ' Nobody holds it yet.'}`,
        'warning',
      ),
      ...people.map((u) =>
        direct(
          u.id,
          `${text} Approve or deny it from its message, or type \`approve ${request.id}\`.`,
          'warning',
        ),
      ),
    ],
  );
}
