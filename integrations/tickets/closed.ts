import { finishRequest } from '../../commands/approvals/state.js';
import { recordEvent } from '../../commands/audit/trail.js';
import type { Deps } from '../../commands/deps.js';
import { type ApprovalRequest, lockApprovalRequest, lockPendingForSubject } from '../../storage/approvals.js';
import { type Tx, withTx } from '../../storage/db.js';
import { listSubjectsForTicket, recordTicketDelivery, type TicketLink } from '../../storage/tickets.js';
import { clip, SYSTEM_LABEL } from './common.js';
import type { TicketSystemName } from './types.js';

/**
 * What happens in Warden when a ticket is rejected, cancelled or closed in the ticket system:
 * every pending approval waiting on a subject linked to that ticket is cancelled, on the trail,
 * in one transaction with the record of the delivery (so a replayed delivery changes nothing).
 */
export interface TicketClosed {
  system: TicketSystemName;
  key: string;
  /** The status it moved to, as the ticket system names it ("Rejected", "Canceled", "deleted"). */
  status: string;
  /** Who moved it there, as the ticket system names them. */
  by: string | null;
  /** Unique per delivery and unchanged across the sender's retries. */
  deliveryId: string;
}

export interface TicketClosedResult {
  duplicate: boolean;
  /** Approval request ids cancelled. */
  cancelled: number[];
  /** Subjects linked to the ticket. */
  subjects: { type: string; id: string }[];
}

async function pendingFor(tx: Tx, link: TicketLink): Promise<ApprovalRequest | undefined> {
  if (link.subjectType === 'approval') {
    const id = Number(link.subjectId);
    if (!Number.isSafeInteger(id)) return undefined;
    const request = await lockApprovalRequest(tx, id);
    return request?.status === 'pending' ? request : undefined;
  }
  return lockPendingForSubject(tx, link.subjectType, link.subjectId);
}

export async function handleTicketClosed(deps: Deps, input: TicketClosed): Promise<TicketClosedResult> {
  const label = SYSTEM_LABEL[input.system];
  const result = await withTx(deps.sql, async (tx): Promise<TicketClosedResult> => {
    const fresh = await recordTicketDelivery(tx, {
      system: input.system,
      deliveryId: clip(input.deliveryId, 200),
      at: deps.clock.now(),
    });
    if (!fresh) return { duplicate: true, cancelled: [], subjects: [] };
    const links = await listSubjectsForTicket(tx, input.system, input.key);
    if (links.length === 0) return { duplicate: false, cancelled: [], subjects: [] };
    const status = clip(input.status, 80);
    const by = input.by ? clip(input.by, 80) : null;
    const reason = `${label} ${input.key} was moved to ${status}${by ? ` by ${by}` : ''}`;
    const cancelled: number[] = [];
    for (const link of links) {
      const request = await pendingFor(tx, link);
      if (!request) continue;
      await finishRequest(tx, deps, request, {
        status: 'cancelled',
        actor: 'system',
        reason,
        data: { ticket: { system: input.system, key: input.key, status, by } },
      });
      cancelled.push(request.id);
    }
    const subjects = links.map((l) => ({ type: l.subjectType, id: l.subjectId }));
    await recordEvent(tx, deps, {
      actor: 'system',
      action: 'ticket.closed',
      subject: { type: 'ticket', id: `${input.system}:${input.key}` },
      data: {
        system: input.system,
        key: input.key,
        status,
        by,
        deliveryId: input.deliveryId,
        subjects,
        cancelled,
      },
    });
    return { duplicate: false, cancelled, subjects };
  });
  if (result.cancelled.length > 0) deps.kickOutbox?.();
  return result;
}
