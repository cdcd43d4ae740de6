import type { ListItem } from '../../bot/chat/model.js';
import { AppError } from '../../lib/errors.js';
import {
  type ApprovalRequest,
  countApprovals,
  listPendingByRequester,
  listPendingNotDecidedBy,
} from '../../storage/approvals.js';
import type { CommandSpec, ParsedArgs } from '../registry.js';
import { parseRequestId } from './actions.js';
import { cancelApproval, decide } from './engine.js';
import { formatUtc, oneLine } from './render.js';
import { mayDecide } from './state.js';

function item(request: ApprovalRequest, approvals: number): ListItem {
  return {
    text: `#${request.id} ${oneLine(request.title, 120)}`,
    detail: `${approvals} of ${request.requiredApprovals} approvals · expires ${formatUtc(request.expiresAt)}`,
  };
}

/** `approvals`: what waits for my decision, and my own requests still open. */
export const approvalsCommand: CommandSpec = {
  path: ['approvals'],
  usage: 'approvals',
  summary: 'List the approval requests waiting for your decision, and your own open requests.',
  maxPositional: 0,
  async run(_args, ctx) {
    const { sql, clock } = ctx.deps;
    const now = clock.now();
    const me = ctx.actor.user.id;
    const candidates = await listPendingNotDecidedBy(sql, me, now);
    const forMe = candidates.filter((r) => mayDecide(ctx.actor, r));
    const mine = await listPendingByRequester(sql, me, now);
    const counts = await countApprovals(
      sql,
      [...forMe, ...mine].map((r) => r.id),
    );
    const items: ListItem[] = [];
    if (forMe.length) {
      items.push({ text: 'Waiting for your decision' });
      for (const r of forMe) items.push(item(r, counts.get(r.id) ?? 0));
    }
    if (mine.length) {
      items.push({ text: 'Your open requests' });
      for (const r of mine) items.push(item(r, counts.get(r.id) ?? 0));
    }
    if (!items.length) {
      return {
        reply: {
          visibility: 'private',
          text: 'Nothing waits for your decision, and you have no open requests.',
        },
      };
    }
    return {
      reply: {
        visibility: 'private',
        header: `${forMe.length} to decide, ${mine.length} of yours open`,
        items,
        context: [
          'Decide with the buttons on each request, or type `approve <id> [reason]` / `deny <id> [reason]`.',
        ],
      },
    };
  },
};

function requestIdAndReason(args: ParsedArgs, usage: string): { requestId: number; reason: string | null } {
  const [id, ...rest] = args.positional;
  if (!id) throw new AppError('bad_request', `say which request, e.g. \`${usage.replace('<id>', '12')}\``);
  const reason = args.keywords.reason ?? (rest.length ? rest.join(' ') : null);
  return { requestId: parseRequestId(id), reason };
}

function decisionCommand(decision: 'approve' | 'deny'): CommandSpec {
  const usage = `${decision} <id> [reason]`;
  return {
    path: [decision],
    usage,
    summary:
      decision === 'approve'
        ? 'Approve an approval request by its number (the same as its Approve button).'
        : 'Deny an approval request by its number (the same as its Deny button).',
    keywords: ['reason'],
    maxPositional: 40,
    async run(args, ctx) {
      const { requestId, reason } = requestIdAndReason(args, usage);
      const result = await decide(ctx.deps, { actor: ctx.actor, requestId, decision, comment: reason });
      const state =
        result.outcome === 'recorded'
          ? `it now has ${result.decisions.filter((d) => d.decision === 'approve').length} of ${result.request.requiredApprovals} approvals`
          : `it is now ${result.outcome}`;
      return {
        reply: {
          visibility: 'private',
          tone: 'success',
          text: `You ${decision === 'approve' ? 'approved' : 'denied'} request #${requestId}; ${state}.`,
        },
      };
    },
  };
}

export const approveCommand = decisionCommand('approve');
export const denyCommand = decisionCommand('deny');

/** `approvals cancel <id>`: the requester withdraws a pending request. */
export const cancelApprovalCommand: CommandSpec = {
  path: ['approvals', 'cancel'],
  usage: 'approvals cancel <id> [reason]',
  summary: 'Withdraw an approval request you opened.',
  keywords: ['reason'],
  maxPositional: 40,
  async run(args, ctx) {
    const { requestId, reason } = requestIdAndReason(args, 'approvals cancel <id>');
    await cancelApproval(ctx.deps, { actor: ctx.actor, requestId, reason });
    return {
      reply: { visibility: 'private', tone: 'success', text: `You cancelled request #${requestId}.` },
    };
  },
};

export const approvalCommands: readonly CommandSpec[] = [
  approvalsCommand,
  cancelApprovalCommand,
  approveCommand,
  denyCommand,
];
