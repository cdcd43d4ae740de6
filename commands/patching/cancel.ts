import { AppError } from '../../lib/errors.js';
import { withTx } from '../../storage/db.js';
import { lockPlanRow } from '../../storage/patching.js';
import type { Deps } from '../deps.js';
import { actorRef, holdsAnywhere } from '../inventory/scope.js';
import { type Actor, authorize, can } from '../rbac/authorize.js';
import { endPlan, type PatchPlan } from './plans.js';

/**
 * `patch cancel <plan>`: a plan that has not started is cancelled, its pending approvals are
 * withdrawn and its change request is cancelled. Needs patch:plan on the plan's project. A running
 * plan is not stopped from here: it stops starting servers at its window's cutoff.
 */
export async function cancelPlan(
  deps: Deps,
  actor: Actor,
  input: { planId: number; reason?: string },
): Promise<PatchPlan> {
  const reason = (input.reason ?? '').replace(/\s+/g, ' ').trim().slice(0, 300);
  const plan = await withTx(deps.sql, async (tx) => {
    const found = await lockPlanRow(tx, input.planId);
    if (!found || !can(actor, 'inventory:read', found.projectId)) {
      if (!holdsAnywhere(actor, 'patch:plan')) authorize(actor, 'patch:plan', null);
      throw new AppError('not_found', `patch plan #${input.planId} does not exist; type \`patch plans\``);
    }
    authorize(actor, 'patch:plan', { id: found.projectId, slug: found.projectSlug });
    if (found.status === 'running') {
      throw new AppError(
        'conflict',
        `patch plan #${found.id} is running; it starts no server after its window's cutoff (${found.cutoffAt?.toISOString() ?? 'unknown'})`,
      );
    }
    if (!['draft', 'awaiting-approval', 'approved', 'scheduled'].includes(found.status)) {
      throw new AppError(
        'already_decided',
        `patch plan #${found.id} is already ${found.status}; nothing was changed`,
      );
    }
    return endPlan(tx, deps, found, 'cancelled', actorRef(actor), {
      reason: `cancelled by ${actor.user.handle}${reason ? `: ${reason}` : ''}`,
    });
  });
  deps.kickOutbox?.();
  return plan;
}
