import type { ActionInteraction, InteractionResult } from '../../bot/chat/model.js';
import { AppError, isAppError } from '../../lib/errors.js';
import type { ActionSpec, CommandContext } from '../registry.js';
import { decide, getApprovalView } from './engine.js';
import { renderApprovalDetails } from './render.js';
import { eligibleApprovers } from './state.js';

/** Button values are request ids; anything else was not put there by Warden. */
export function parseRequestId(value: string): number {
  const text = value.trim().replace(/^#/, '');
  if (!/^[0-9]{1,12}$/.test(text) || Number(text) < 1) {
    throw new AppError(
      'bad_request',
      `"${text.slice(0, 20)}" is not an approval request number; type \`approvals\` to list them`,
    );
  }
  return Number(text);
}

/** A refusal only the clicker sees; the message itself stays as it was. */
export function privateError(error: AppError): InteractionResult {
  return { reply: { visibility: 'private', tone: 'error', text: error.message } };
}

async function handle(action: ActionInteraction, ctx: CommandContext): Promise<InteractionResult> {
  const verb = action.actionId.slice('approval.'.length);
  const requestId = parseRequestId(action.value);
  switch (verb) {
    case 'approve':
    case 'deny': {
      const result = await decide(ctx.deps, { actor: ctx.actor, requestId, decision: verb });
      return { replaceOriginal: result.message };
    }
    case 'details': {
      const view = await getApprovalView(ctx.deps, requestId);
      const approvers = await eligibleApprovers(ctx.deps.sql, view.request);
      return { reply: renderApprovalDetails(view, approvers) };
    }
    default:
      throw new AppError('bad_request', 'that button is from an older Warden and no longer does anything');
  }
}

/** The Approve / Deny / Details buttons on every approval message. */
export const approvalAction: ActionSpec = {
  prefix: 'approval.',
  async run(action, ctx) {
    try {
      return await handle(action, ctx);
    } catch (error) {
      if (isAppError(error)) return privateError(error);
      throw error;
    }
  },
};

export const approvalActions: readonly ActionSpec[] = [approvalAction];
