import { canonicalJson } from '../../lib/canonical-json.js';
import type { Tx } from '../../storage/db.js';
import { listPlanItems } from '../../storage/patching.js';
import type { Deps } from '../deps.js';
import { planHash } from './hash.js';
import { endPlan, getPatchPolicy, type PatchPlan, transitionPlan } from './plans.js';
import { policyHashParts } from './policy.js';
import { selectFromDatabase } from './select.js';
import { formatSlot, immediateWindow, nextWindow, type WindowSlot } from './windows.js';

/**
 * From approved to scheduled, and the check that guards it (and the run's start): is the plan
 * still what would be built now? A plan whose stored rows no longer match its hash, or that
 * differs from a plan built now from the same servers' current findings and the current policy (a
 * new finding, another version, a policy change), is superseded: it needs a new plan and a new
 * approval, never a silent change.
 */
export interface Currency {
  current: boolean;
  /** What changed, for the person who reads the thread. */
  reason?: string;
}

function key(i: { serverId: number; package: string; arch: string }): string {
  return `${i.serverId}\u0000${i.package}\u0000${i.arch}`;
}

export async function planIsCurrent(tx: Tx, deps: Deps, plan: PatchPlan): Promise<Currency> {
  const items = await listPlanItems(tx, plan.id);
  if (planHash(plan, items) !== plan.hash) {
    return { current: false, reason: 'its stored items no longer match the hash that was approved' };
  }
  const { policy } = await getPatchPolicy(tx, plan.projectId);
  const fresh = await selectFromDatabase(tx, {
    policy,
    kind: plan.kind,
    cve: plan.cve,
    skipExcluded: plan.skipExcluded,
    now: deps.clock.now(),
    serverIds: plan.notes.consideredServerIds ?? [...new Set(items.map((i) => i.serverId))],
  });
  const hash = planHash({ ...plan, policySnapshot: policy }, fresh.items);
  if (hash === plan.hash) return { current: true };
  const reasons: string[] = [];
  if (canonicalJson(policyHashParts(policy)) !== canonicalJson(policyHashParts(plan.policySnapshot))) {
    reasons.push('the patch policy changed');
  }
  const before = new Map(items.map((i) => [key(i), i]));
  const after = new Map(fresh.items.map((i) => [key(i), i]));
  const added = fresh.items.filter((i) => !before.has(key(i))).map((i) => i.package);
  const gone = items.filter((i) => !after.has(key(i))).map((i) => `${i.package} on ${i.serverName}`);
  const moved = items
    .filter((i) => {
      const now = after.get(key(i));
      return now && (now.toVersion !== i.toVersion || now.fromVersion !== i.fromVersion);
    })
    .map((i) => `${i.package} on ${i.serverName} (now ${after.get(key(i))!.toVersion})`);
  if (added.length)
    reasons.push(`new: ${[...new Set(added)].slice(0, 5).join(', ')}${added.length > 5 ? ', …' : ''}`);
  if (gone.length)
    reasons.push(`no longer pending: ${gone.slice(0, 5).join(', ')}${gone.length > 5 ? ', …' : ''}`);
  if (moved.length)
    reasons.push(`other version: ${moved.slice(0, 5).join(', ')}${moved.length > 5 ? ', …' : ''}`);
  if (reasons.length === 0) reasons.push('rings, exclusions or reboots differ');
  return { current: false, reason: reasons.join('; ') };
}

/** The window a plan of this kind goes into from `now`, or undefined when the policy has none ahead. */
export function windowFor(plan: PatchPlan, now: Date): WindowSlot | undefined {
  if (plan.kind !== 'scheduled') return immediateWindow(plan.policySnapshot, now);
  return nextWindow(plan.policySnapshot.windows, now);
}

/** Supersede a plan that changed, telling the thread and the channel how to get a new one. */
export async function supersedeChanged(
  tx: Tx,
  deps: Deps,
  plan: PatchPlan,
  actor: string,
  reason: string,
): Promise<PatchPlan> {
  const again =
    plan.kind === 'cve'
      ? `patch cve ${plan.cve}`
      : plan.kind === 'now'
        ? `patch run ${plan.projectSlug} now`
        : `patch plan ${plan.projectSlug}`;
  return endPlan(tx, deps, plan, 'superseded', actor, {
    reason: `it changed since it was built (${reason}); it will not run. Type \`${again}\` to build the new plan for approval.`,
    channelPost: {
      visibility: 'public',
      tone: 'warning',
      header: `Patch plan #${plan.id} for ${plan.projectSlug} needs a new approval`,
      text: `It changed since it was built (${reason}), so it will not run. Type \`${again}\` to build the new plan.`,
    },
  });
}

/**
 * Every approval is in: put the plan into its window (the next one, or at once for `now` and CVE
 * plans), unless it changed (superseded) or no window is ahead (cancelled, saying why).
 */
export async function schedulePlanTx(tx: Tx, deps: Deps, plan: PatchPlan, actor: string): Promise<PatchPlan> {
  const currency = await planIsCurrent(tx, deps, plan);
  if (!currency.current) return supersedeChanged(tx, deps, plan, actor, currency.reason ?? 'unknown');
  const now = deps.clock.now();
  const slot = windowFor(plan, now);
  if (!slot) {
    return endPlan(tx, deps, plan, 'cancelled', actor, {
      reason: `the patch policy of ${plan.projectSlug} has no maintenance window ahead; add one, then build a new plan`,
    });
  }
  const heads = plan.policySnapshot.headsUpMinutes;
  return transitionPlan(tx, deps, plan, 'scheduled', actor, {
    text: `Scheduled: ${formatSlot(slot)}${plan.kind === 'scheduled' && heads ? `; a heads-up goes to the channel ${heads} minutes before` : ''}.`,
    data: {
      windowStart: slot.start.toISOString(),
      windowEnd: slot.end.toISOString(),
      cutoffAt: slot.cutoffAt.toISOString(),
    },
    update: {
      window: slot,
      scheduledAt: now,
      resetDispatch: true,
      notes: {
        tentativeWindow: {
          start: slot.start.toISOString(),
          end: slot.end.toISOString(),
          cutoffAt: slot.cutoffAt.toISOString(),
          timezone: slot.timezone,
          label: slot.label,
        },
      },
    },
  });
}
