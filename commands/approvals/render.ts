import type { Field, Reply } from '../../bot/chat/model.js';
import type { ApprovalDecisionRow, ApprovalRequest, ApprovalStatus } from '../../storage/approvals.js';
import type { User } from '../../storage/users.js';

/** Everything needed to draw one approval message, loaded by the engine. */
export interface ApprovalView {
  request: ApprovalRequest;
  decisions: readonly ApprovalDecisionRow[];
  requester: Pick<User, 'handle' | 'displayName'>;
  /** null: a global request. */
  projectSlug: string | null;
}

const STATUS_WORD: Record<ApprovalStatus, string> = {
  pending: 'Waiting for approval',
  approved: 'Approved',
  denied: 'Denied',
  expired: 'Expired',
  cancelled: 'Cancelled',
};

const STATUS_TONE: Record<ApprovalStatus, NonNullable<Reply['tone']>> = {
  pending: 'info',
  approved: 'success',
  denied: 'error',
  expired: 'warning',
  cancelled: 'warning',
};

/** `2026-01-05 10:02 UTC`: one unambiguous format for every platform. */
export function formatUtc(at: Date): string {
  return `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** User text shown on a shared message: one line, bounded, so nobody can flood the channel. */
export function oneLine(text: string, max = 200): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export function approvalCount(decisions: readonly ApprovalDecisionRow[]): number {
  return decisions.filter((d) => d.decision === 'approve').length;
}

/** "✔ approved by bob at 2026-01-05 10:02 UTC — looks fine" */
export function decisionLine(d: ApprovalDecisionRow): string {
  const verb = d.decision === 'approve' ? '✔ approved' : '✘ denied';
  const comment = d.comment ? ` — ${oneLine(d.comment)}` : '';
  return `${verb} by ${d.approverHandle} at ${formatUtc(d.decidedAt)}${comment}`;
}

/** One sentence on how the request ended, or undefined while it is pending. */
export function finalLine(view: ApprovalView): string | undefined {
  const { request, decisions } = view;
  const at = request.decidedAt ? formatUtc(request.decidedAt) : 'an unknown time';
  switch (request.status) {
    case 'pending':
      return undefined;
    case 'approved': {
      const who = decisions.filter((d) => d.decision === 'approve').map((d) => d.approverHandle);
      return `approved by ${who.join(', ') || 'nobody'} at ${at}`;
    }
    case 'denied': {
      const who = decisions.filter((d) => d.decision === 'deny').map((d) => d.approverHandle);
      return `denied by ${who.join(', ') || 'nobody'} at ${at}`;
    }
    case 'expired':
      return `expired at ${formatUtc(request.expiresAt)} without enough approvals`;
    case 'cancelled':
      return `cancelled by ${view.requester.handle} at ${at}`;
  }
}

function statusText(view: ApprovalView): string {
  const { request, decisions } = view;
  if (request.status !== 'pending') {
    const reason = request.decidedReason ? ` (${oneLine(request.decidedReason)})` : '';
    return `${STATUS_WORD[request.status]}: ${finalLine(view)}${reason}.`;
  }
  const got = approvalCount(decisions);
  return `${STATUS_WORD.pending}: ${got} of ${request.requiredApprovals} approval${request.requiredApprovals === 1 ? '' : 's'}, expires ${formatUtc(request.expiresAt)}.`;
}

function baseFields(view: ApprovalView): Field[] {
  const { request } = view;
  return [
    { label: 'Requested by', value: `${view.requester.displayName} (${view.requester.handle})` },
    { label: 'Project', value: view.projectSlug ?? 'every project' },
    { label: 'Approvers need', value: request.permission },
    // rows written outside the engine may lack `fields`; show what is there rather than fail
    ...(Array.isArray(request.details?.fields) ? request.details.fields : []).map((f) => ({
      label: oneLine(String(f.label), 60),
      value: oneLine(String(f.value), 500),
    })),
  ];
}

/** The shared message of a request: buttons while it is pending, the decisions in the small print. */
export function renderApprovalMessage(view: ApprovalView): Reply {
  const { request } = view;
  const pending = request.status === 'pending';
  const value = String(request.id);
  const context = view.decisions.map(decisionLine);
  if (request.escalatedAt) {
    context.push(
      `↑ escalated at ${formatUtc(request.escalatedAt)} to holders of ${request.escalationPermission ?? 'approvals:escalation'}`,
    );
  }
  context.push(`Request #${request.id}, opened ${formatUtc(request.createdAt)}`);
  return {
    visibility: 'public',
    header: `Approval #${request.id}: ${oneLine(request.title, 150)}`,
    text: statusText(view),
    fields: baseFields(view),
    ...(pending
      ? {
          buttons: [
            { label: 'Approve', actionId: 'approval.approve', value, style: 'primary' as const },
            { label: 'Deny', actionId: 'approval.deny', value, style: 'danger' as const },
            { label: 'Details', actionId: 'approval.details', value },
          ],
        }
      : {}),
    context,
    tone: STATUS_TONE[request.status],
  };
}

/** The private "Details" view: everything on the message plus the rules and who may decide. */
export function renderApprovalDetails(view: ApprovalView, approvers: readonly Pick<User, 'handle'>[]): Reply {
  const { request } = view;
  const message = renderApprovalMessage(view);
  const rules: Field[] = [
    { label: 'Status', value: request.status },
    { label: 'Needs', value: `${request.requiredApprovals} distinct approver(s)` },
    { label: 'A deny', value: request.denyEnds ? 'ends the request' : 'is recorded; approvals still count' },
    { label: 'Expires', value: formatUtc(request.expiresAt) },
    { label: 'Reminder', value: timing(request.remindAt, request.remindedAt) },
    { label: 'Escalation', value: timing(request.escalateAt, request.escalatedAt) },
    {
      label: 'Who may decide',
      value: approvers.length ? approvers.map((u) => u.handle).join(', ') : 'nobody yet (ask an admin)',
    },
  ];
  return {
    visibility: 'private',
    header: message.header,
    text: message.text,
    fields: [...(message.fields ?? []), ...rules],
    context: message.context,
    tone: message.tone,
  };
}

function timing(due: Date | null, done: Date | null): string {
  if (done) return `sent ${formatUtc(done)}`;
  if (due) return `due ${formatUtc(due)}`;
  return 'off';
}
