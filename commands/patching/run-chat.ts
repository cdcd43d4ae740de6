import type { InteractionResult, ListItem, Reply } from '../../bot/chat/model.js';
import { AppError } from '../../lib/errors.js';
import { withTx } from '../../storage/db.js';
import { getRun, listRunServers } from '../../storage/patch-runs.js';
import { trailActor } from '../approvals/state.js';
import type { Deps } from '../deps.js';
import { quoteForMessage } from '../grammar.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import type { CommandSpec } from '../registry.js';
import { getPlan, type PatchPlan } from './plans.js';
import { durationText } from './report.js';
import { countStates, countsText, recordHalt } from './run-notify.js';

/**
 * `patch status <plan>`: where a run stands, server by server. `patch halt <plan>`: stop starting
 * servers (those in progress finish), with the reason in the thread and on the change request.
 */

const LIST_LIMIT = 25;

export function parsePlanId(text: string | undefined): number {
  const match = /^#?([1-9][0-9]{0,11})$/.exec((text ?? '').trim());
  if (!match) {
    throw new AppError(
      'bad_request',
      `${text ? quoteForMessage(text) : 'Nothing'} is not a plan number. Type \`patch plans <project>\` to see them.`,
    );
  }
  return Number(match[1]);
}

async function planFor(
  deps: Deps,
  actor: Actor,
  planId: number,
  permission: 'inventory:read' | 'patch:run',
): Promise<PatchPlan> {
  const plan = await getPlan(deps.sql, planId);
  if (!plan)
    throw new AppError(
      'not_found',
      `There is no patch plan #${planId}. Type \`patch plans <project>\` to see them.`,
    );
  authorize(actor, permission, { id: plan.projectId, slug: plan.projectSlug });
  return plan;
}

export async function patchRunStatus(deps: Deps, actor: Actor, planId: number): Promise<Reply> {
  const plan = await planFor(deps, actor, planId, 'inventory:read');
  const rows = await listRunServers(deps.sql, planId);
  const run = await getRun(deps.sql, planId);
  const now = deps.clock.now();
  const items: ListItem[] = rows.slice(0, LIST_LIMIT).map((r) => {
    const last = r.steps[r.steps.length - 1];
    const took = r.startedAt ? durationText((r.finishedAt ?? now).getTime() - r.startedAt.getTime()) : null;
    return {
      text: `${r.serverName}: ${r.state}`,
      detail: [
        `ring ${r.ring + 1}`,
        ...(took ? [r.finishedAt ? `took ${took}` : `for ${took}`] : []),
        ...(r.attempt > 1 ? [`attempt ${r.attempt}`] : []),
        ...(r.error ? [r.error] : last ? [last.detail ?? ''] : []),
      ]
        .filter(Boolean)
        .join(' · '),
    };
  });
  const context = [
    ...(run?.haltedReason ? [`Halted: ${run.haltedReason}`] : []),
    ...(run ? [`Started ${run.startedAt.toISOString().replace('T', ' ').slice(0, 16)} UTC`] : []),
    ...(rows.length > LIST_LIMIT ? [`Showing ${LIST_LIMIT} of ${rows.length} servers.`] : []),
  ];
  return {
    visibility: 'private',
    header: `Patch plan #${plan.id} (${plan.projectSlug}): ${plan.status}`,
    text: rows.length ? `${countsText(countStates(rows))}.` : 'The run has not started yet.',
    ...(items.length ? { items } : {}),
    ...(context.length ? { context } : {}),
  };
}

export async function haltPatchRun(
  deps: Deps,
  actor: Actor,
  planId: number,
  reason?: string,
): Promise<Reply> {
  await planFor(deps, actor, planId, 'patch:run');
  const why = `halted by ${actor.user.handle}${reason ? `: ${reason.replace(/\s+/g, ' ').trim().slice(0, 300)}` : ''}`;
  await withTx(deps.sql, async (tx) => {
    const plan = await getPlan(tx, planId);
    if (plan?.status !== 'running') {
      throw new AppError(
        'conflict',
        `Patch plan #${planId} is ${plan?.status ?? 'gone'}, not running, so there is nothing to halt. A plan that has not started is cancelled instead.`,
      );
    }
    const halted = await recordHalt(tx, deps, {
      planId,
      projectId: plan.projectId,
      reason: why,
      by: trailActor(actor),
    });
    if (!halted)
      throw new AppError(
        'conflict',
        `Patch plan #${planId} is already halted; \`patch status ${planId}\` shows where it stands.`,
      );
  });
  deps.kickOutbox?.();
  return {
    visibility: 'private',
    tone: 'success',
    text: `Patch plan #${planId} halted: no more servers start; those in progress finish and are reported in its thread.`,
  };
}

export const patchStatusCommand: CommandSpec = {
  path: ['patch', 'status'],
  usage: 'patch status <plan>',
  summary: 'Where a patch run stands, server by server',
  permission: 'inventory:read',
  maxPositional: 1,
  async run(args, ctx): Promise<InteractionResult> {
    return { reply: await patchRunStatus(ctx.deps, ctx.actor, parsePlanId(args.positional[0])) };
  },
};

export const patchHaltCommand: CommandSpec = {
  path: ['patch', 'halt'],
  usage: 'patch halt <plan> [reason "…"]',
  summary: 'Stop a running patch plan from starting more servers',
  permission: 'patch:run',
  keywords: ['reason'],
  maxPositional: 1,
  async run(args, ctx): Promise<InteractionResult> {
    const planId = parsePlanId(args.positional[0]);
    return { reply: await haltPatchRun(ctx.deps, ctx.actor, planId, args.keywords.reason) };
  },
};

/** The run's chat commands, for commands/index.ts. */
export const patchRunCommands: readonly CommandSpec[] = [patchStatusCommand, patchHaltCommand];
