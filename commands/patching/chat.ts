import type { Field, InteractionResult, ListItem, Reply } from '../../bot/chat/model.js';
import { AppError } from '../../lib/errors.js';
import { insertOutboxItems } from '../../storage/scans.js';
import { oneLine } from '../approvals/render.js';
import type { Deps } from '../deps.js';
import type { CommandContext, CommandSpec } from '../registry.js';
import { type BuildOutcome, buildPlan, type PreparedPlan, preparePlan } from './build.js';
import { cancelPlan } from './cancel.js';
import { planCve } from './cve.js';
import { showPatchPolicy } from './policy-store.js';
import { getPlanFor, listPlans, parsePlanId } from './queries.js';
import { CHAT_LIST_LIMIT, planFields, planTitle, STATUS_TEXT, summarize } from './render.js';
import { formatSlot, nextWindow, windowLabel } from './windows.js';

/** The chat surface of patching: plan, run now, cve, policy, plans, cancel. */

/** Field values stay well inside the platforms' limits (Slack: 2,000 characters a field). */
function clipFields(fields: Field[]): Field[] {
  return fields.map((f) => ({ ...f, value: oneLine(f.value, 1000) }));
}

export function outcomeReply(outcome: BuildOutcome): Reply {
  if (outcome.outcome === 'empty') {
    const n = outcome.notes;
    const why = [
      ...(n.notPlanned ?? []).slice(0, 5).map((x) => `${x.server}: ${x.reason}`),
      ...(n.refused?.length
        ? [`${n.refused.length} package(s) refused: invalid name or version in scan output`]
        : []),
      ...(n.skipped?.length ? [`${n.skipped.length} package(s) kept off by exceptions`] : []),
    ];
    return {
      visibility: 'private',
      tone: 'info',
      header: `Nothing to patch in ${outcome.project}`,
      text: `No pending update matches the patch policy${outcome.rescanned ? ` (after rescanning ${outcome.rescanned} stale servers)` : ''}.`,
      ...(why.length ? { context: why } : {}),
    };
  }
  const { plan, items } = outcome;
  const s = summarize(plan, items);
  if (outcome.outcome === 'unchanged') {
    return {
      visibility: 'private',
      tone: 'info',
      header: `Plan #${plan.id} is unchanged`,
      text: `Nothing changed since plan #${plan.id} was built (hash ${plan.hash.slice(0, 12)}…); it stays ${STATUS_TEXT[plan.status].toLowerCase()} and needs no new approval.`,
    };
  }
  const waits = plan.exclusionRequestId
    ? `approval #${plan.approvalRequestId} (patch:approve) and exclusion approval #${plan.exclusionRequestId} (patch:approve-exclusion)`
    : `approval #${plan.approvalRequestId}`;
  return {
    visibility: 'private',
    tone: 'success',
    header: planTitle(plan, s),
    text: `Posted in the project's channel; it waits for ${waits}.${outcome.rescanned ? ` ${outcome.rescanned} stale servers were rescanned first.` : ''}${outcome.superseded ? ` It supersedes plan #${outcome.superseded}.` : ''}`,
    fields: planFields(plan, s),
  };
}

/** Tell the person privately how a build that ran after the answer ended (not a state change: no trail). */
async function tellLater(deps: Deps, ctx: CommandContext, reply: Reply): Promise<void> {
  const at = deps.clock.now();
  await insertOutboxItems(
    deps.sql,
    deps.chatPlatforms.map((platform) => ({
      channel: platform,
      kind: 'direct',
      payload: { kind: 'direct', userId: ctx.actor.user.id, reply },
      idempotencyKey: `patch-build:${ctx.interaction.dedupeKey}:${platform}`,
      orderingKey: null,
      at,
    })),
  );
  deps.kickOutbox?.();
}

/** Build at once when every result is fresh; otherwise answer now, rescan, and say how it ended. */
async function build(
  ctx: CommandContext,
  prepared: PreparedPlan,
  run: () => Promise<BuildOutcome>,
): Promise<InteractionResult> {
  if (prepared.stale.length === 0) return { reply: outcomeReply(await run()) };
  const { deps } = ctx;
  run()
    .then((outcome) => tellLater(deps, ctx, outcomeReply(outcome)))
    .catch((error: unknown) => {
      deps.log.error({ err: error }, 'building a patch plan failed');
      const text =
        error instanceof AppError ? error.message : 'Building the plan failed; the log has the details.';
      return tellLater(deps, ctx, { visibility: 'private', tone: 'error', text }).catch(() => {});
    });
  return {
    reply: {
      visibility: 'private',
      tone: 'info',
      text: `Rescanning ${prepared.stale.length} server(s) of ${prepared.project.slug} whose results are stale first (stale results are never planned on). The plan follows in the channel, and I will tell you here.`,
    },
  };
}

const planCommand: CommandSpec = {
  path: ['patch', 'plan'],
  usage: 'patch plan <project> [--skip-excluded]',
  summary: 'Build the patch plan of a project from fresh scans and post it for approval',
  permission: 'patch:plan',
  flags: ['skip-excluded'],
  async run(args, ctx) {
    const project = args.positional[0];
    if (!project)
      throw new AppError(
        'bad_request',
        'Say which project.\nUsage: /warden patch plan <project> [--skip-excluded]',
      );
    const input = { project, skipExcluded: args.flags.includes('skip-excluded') };
    const prepared = await preparePlan(ctx.deps, ctx.actor, input);
    return build(ctx, prepared, () => buildPlan(ctx.deps, ctx.actor, input, {}, prepared));
  },
};

const runNowCommand: CommandSpec = {
  path: ['patch', 'run'],
  usage: 'patch run <project> now [--skip-excluded]',
  summary: 'Plan a patch of a project that runs as soon as it is approved',
  permission: 'patch:plan',
  flags: ['skip-excluded'],
  maxPositional: 2,
  async run(args, ctx) {
    const [project, when] = args.positional;
    if (!project || when?.toLowerCase() !== 'now') {
      throw new AppError(
        'bad_request',
        'Usage: /warden patch run <project> now — it still needs an approval.',
      );
    }
    const input = { project, kind: 'now' as const, skipExcluded: args.flags.includes('skip-excluded') };
    const prepared = await preparePlan(ctx.deps, ctx.actor, input);
    return build(ctx, prepared, () => buildPlan(ctx.deps, ctx.actor, input, {}, prepared));
  },
};

const cveCommand: CommandSpec = {
  path: ['patch', 'cve'],
  usage: 'patch cve <CVE-id>',
  summary: 'Plan an out-of-cycle patch of every server where a CVE is pending (one plan per project)',
  permission: 'patch:plan',
  async run(args, ctx) {
    const cve = args.positional[0];
    if (!cve) throw new AppError('bad_request', 'Say which CVE.\nUsage: /warden patch cve <CVE-id>');
    const result = await planCve(ctx.deps, ctx.actor, { cve });
    const items: ListItem[] = result.results.map((r) => {
      if (r.error) return { text: `${r.project}: not planned`, detail: r.error.slice(0, 200) };
      const o = r.outcome!;
      if (o.outcome === 'empty') return { text: `${r.project}: not pending after the rescan` };
      const s = summarize(o.plan, o.items);
      return {
        text: `${r.project}: plan #${o.plan.id}${o.outcome === 'unchanged' ? ' (unchanged)' : ''}, ${s.servers} server(s)`,
        detail: `waits for approval #${o.plan.approvalRequestId}`,
      };
    });
    return {
      reply: {
        visibility: 'private',
        header: `${result.cve}: ${result.results.filter((r) => r.outcome && r.outcome.outcome !== 'empty').length} plan(s)`,
        ...(items.length
          ? { items }
          : { text: `${result.cve} is not pending on any server you may plan for.` }),
      },
    };
  },
};

const policyCommand: CommandSpec = {
  path: ['patch', 'policy'],
  usage: 'patch policy <project>',
  summary: "Show a project's patch policy: what is installed, windows, rings, reboots and checks",
  permission: 'inventory:read',
  async run(args, ctx) {
    const project = args.positional[0];
    if (!project)
      throw new AppError('bad_request', 'Say which project.\nUsage: /warden patch policy <project>');
    const shown = await showPatchPolicy(ctx.deps, ctx.actor, { project });
    const p = shown.policy;
    const now = ctx.deps.clock.now();
    const next = nextWindow(p.windows, now);
    const active = p.exceptions.filter((e) => new Date(e.expiresAt) > now);
    const list = (a: readonly string[]) => (a.length ? a.join(', ') : 'none');
    return {
      reply: {
        visibility: 'private',
        header: `Patch policy of ${shown.project.slug}${shown.stored ? '' : ' (the default)'}`,
        fields: clipFields([
          {
            label: 'Installs',
            value: `${p.classifications.join(', ')} of severity ≥ ${p.minimumSeverity}${p.includeUnknownSeverity ? ' (and unknown)' : ''}`,
          },
          {
            label: 'Auto-approval',
            value: p.autoApproveAfterDays ? `after ${p.autoApproveAfterDays} days pending` : 'off',
          },
          { label: 'Exclusions (second approval)', value: list(p.exclusions) },
          {
            label: 'Exceptions',
            value: active.length
              ? active.map((e) => `${e.package} (${e.owner}, until ${e.expiresAt.slice(0, 10)})`).join('; ')
              : 'none active',
          },
          { label: 'Windows', value: list(p.windows.map(windowLabel)) },
          { label: 'Next window', value: next ? formatSlot(next) : 'none ahead' },
          {
            label: 'Rings',
            value: p.rings
              .map((r) => `${r.name} (≤${r.maxConcurrency} at once, halts past ${r.errorThreshold})`)
              .join(' → '),
          },
          {
            label: 'Backups',
            value: `before: ${p.backups.before ?? 'none'}, after: ${p.backups.after ?? 'none'}`,
          },
          { label: 'Reboot', value: `${p.reboot.rule}, ${p.reboot.when}` },
          {
            label: 'Commands and checks',
            value: `${p.preCommands.length} before, ${p.postCommands.length} after; checks: ${list(p.checks.map((c) => c.name))}`,
          },
          { label: 'Heads-up', value: p.headsUpMinutes ? `${p.headsUpMinutes} minutes before` : 'none' },
        ]),
        context: [
          shown.updatedAt
            ? `Changed ${shown.updatedAt.toISOString().slice(0, 16)} UTC by ${shown.updatedBy}.`
            : 'Edit it with PUT /api/v1/projects/{slug}/patch-policy.',
        ],
      },
    };
  },
};

const plansCommand: CommandSpec = {
  path: ['patch', 'plans'],
  usage: 'patch plans [project]',
  summary: 'Recent patch plans and where each stands',
  permission: 'inventory:read',
  async run(args, ctx) {
    const project = args.positional[0];
    const rows = await listPlans(ctx.deps, ctx.actor, {
      ...(project ? { project } : {}),
      limit: CHAT_LIST_LIMIT,
    });
    const items: ListItem[] = rows.map((r) => ({
      text: `#${r.plan.id} ${r.plan.projectSlug} (${r.plan.kind === 'cve' ? r.plan.cve : r.plan.kind === 'now' ? 'now' : 'next window'}): ${STATUS_TEXT[r.plan.status]}`,
      detail: `${r.packages} package(s) on ${r.servers} server(s)${r.excluded ? `, ${r.excluded} excluded` : ''}${r.plan.windowStart ? ` · window ${r.plan.windowStart.toISOString().slice(0, 16)} UTC` : ''}`,
    }));
    return {
      reply: {
        visibility: 'private',
        header: `Patch plans${project ? ` of ${project}` : ''}`,
        ...(items.length
          ? { items }
          : { text: 'No patch plans yet. Type `patch plan <project>` to build one.' }),
      },
    };
  },
};

const cancelCommand: CommandSpec = {
  path: ['patch', 'cancel'],
  usage: 'patch cancel <plan> [reason "<why>"]',
  summary: 'Cancel a patch plan that has not started; its approvals are withdrawn',
  permission: 'patch:plan',
  keywords: ['reason'],
  async run(args, ctx) {
    const id = args.positional[0];
    if (!id) throw new AppError('bad_request', 'Say which plan.\nUsage: /warden patch cancel <plan>');
    const planId = parsePlanId(id);
    const plan = await cancelPlan(ctx.deps, ctx.actor, {
      planId,
      ...(args.keywords.reason ? { reason: args.keywords.reason } : {}),
    });
    const { items } = await getPlanFor(ctx.deps, ctx.actor, plan.id);
    return {
      reply: {
        visibility: 'private',
        tone: 'success',
        text: `${planTitle(plan, summarize(plan, items))} is cancelled.`,
      },
    };
  },
};

/** The patching chat commands, for commands/index.ts. */
export const patchingCommands: readonly CommandSpec[] = [
  planCommand,
  runNowCommand,
  cveCommand,
  policyCommand,
  plansCommand,
  cancelCommand,
];
