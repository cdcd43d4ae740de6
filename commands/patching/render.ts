import type { Field, ListItem, Reply, SubjectRef } from '../../bot/chat/model.js';
import type { PlanItemRow, PlanRow, PlanStatus } from '../../storage/patching.js';
import { oneLine } from '../approvals/render.js';
import { SEVERITIES } from './policy.js';
import { formatSlot } from './windows.js';

/**
 * How a plan reads in chat and in its change request: servers, packages, CVEs fixed, severities,
 * reboots expected, window and ring order. Long lists are cut; the API has the whole plan.
 */
export const PLAN_SUBJECT = 'patch-plan';
export const EXCLUSION_SUBJECT = 'patch-exclusion';

export function planSubject(planId: number): SubjectRef {
  return { type: PLAN_SUBJECT, id: String(planId) };
}

/** Lines of a list in chat; more goes behind the API link. */
export const CHAT_LIST_LIMIT = 25;

const STATUS_TEXT: Record<PlanStatus, string> = {
  draft: 'Draft',
  'awaiting-approval': 'Waiting for approval',
  approved: 'Approved, waiting for the exclusion approval',
  scheduled: 'Scheduled',
  running: 'Running',
  succeeded: 'Succeeded',
  'partially-failed': 'Partially failed',
  failed: 'Failed',
  'rolled-back': 'Rolled back',
  cancelled: 'Cancelled',
  superseded: 'Superseded',
};

const STATUS_TONE: Partial<Record<PlanStatus, NonNullable<Reply['tone']>>> = {
  scheduled: 'success',
  succeeded: 'success',
  'partially-failed': 'warning',
  failed: 'error',
  'rolled-back': 'warning',
  cancelled: 'warning',
  superseded: 'warning',
};

export interface PlanSummary {
  servers: number;
  packages: number;
  excluded: number;
  cves: string[];
  bySeverity: Record<string, number>;
  /** Servers that will reboot under the policy's rule. */
  reboots: number;
  /** Ring name and server count, in run order. */
  rings: { name: string; servers: number }[];
}

export function summarize(plan: Pick<PlanRow, 'policySnapshot'>, items: readonly PlanItemRow[]): PlanSummary {
  const servers = new Map<number, { ring: number; reboot: boolean }>();
  const cves = new Set<string>();
  const bySeverity: Record<string, number> = {};
  let excluded = 0;
  for (const i of items) {
    const s = servers.get(i.serverId) ?? { ring: i.ring, reboot: false };
    s.reboot ||= i.rebootExpected;
    servers.set(i.serverId, s);
    for (const c of i.cves) cves.add(c);
    bySeverity[i.severity] = (bySeverity[i.severity] ?? 0) + 1;
    if (i.excluded) excluded++;
  }
  const rule = plan.policySnapshot.reboot.rule;
  const reboots =
    rule === 'never' ? 0 : [...servers.values()].filter((s) => rule === 'always' || s.reboot).length;
  const rings = plan.policySnapshot.rings
    .map((r, index) => ({
      name: r.name,
      servers: [...servers.values()].filter((s) => s.ring === index).length,
    }))
    .filter((r) => r.servers > 0);
  return {
    servers: servers.size,
    packages: items.length,
    excluded,
    cves: [...cves].sort(),
    bySeverity,
    reboots,
    rings,
  };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function planTitle(
  plan: Pick<PlanRow, 'id' | 'projectSlug' | 'kind' | 'cve'>,
  s: PlanSummary,
): string {
  const what = plan.kind === 'cve' ? ` (${plan.cve})` : plan.kind === 'now' ? ' (now)' : '';
  return `Patch plan #${plan.id} for ${plan.projectSlug}${what}: ${plural(s.packages, 'package')} on ${plural(s.servers, 'server')}`;
}

export function windowText(
  plan: Pick<PlanRow, 'windowStart' | 'windowEnd' | 'cutoffAt' | 'notes' | 'kind' | 'policySnapshot'>,
): string {
  if (plan.windowStart && plan.windowEnd && plan.cutoffAt) {
    const tz = plan.notes.tentativeWindow?.timezone ?? 'UTC';
    return formatSlot({
      start: plan.windowStart,
      end: plan.windowEnd,
      cutoffAt: plan.cutoffAt,
      timezone: tz,
    });
  }
  if (plan.kind !== 'scheduled') {
    return `immediately after approval, for ${plan.policySnapshot.immediateWindow.durationMinutes} minutes`;
  }
  const t = plan.notes.tentativeWindow;
  if (!t) return 'no window ahead in the policy';
  return `next window: ${formatSlot({ start: new Date(t.start), end: new Date(t.end), cutoffAt: new Date(t.cutoffAt), timezone: t.timezone })}`;
}

function severityText(bySeverity: Record<string, number>): string {
  return (
    SEVERITIES.filter((s) => bySeverity[s])
      .map((s) => `${s} ${bySeverity[s]}`)
      .join(' · ') || 'none'
  );
}

function cveText(cves: readonly string[]): string {
  if (cves.length === 0) return 'none named';
  const shown = cves.slice(0, 8).join(', ');
  return cves.length > 8 ? `${cves.length}: ${shown}, …` : shown;
}

/** The fields approvers decide on (also shown on the approval message). */
export function planFields(plan: PlanRow, s: PlanSummary): Field[] {
  return [
    { label: 'Servers', value: String(s.servers) },
    { label: 'Packages', value: String(s.packages) },
    { label: 'CVEs fixed', value: cveText(s.cves) },
    { label: 'Severities', value: severityText(s.bySeverity) },
    {
      label: 'Reboots expected',
      value: `${s.reboots} of ${s.servers} (rule: ${plan.policySnapshot.reboot.rule})`,
    },
    { label: 'Window', value: windowText(plan) },
    { label: 'Ring order', value: s.rings.map((r) => `${r.name} (${r.servers})`).join(' → ') || '—' },
    ...(s.excluded
      ? [{ label: 'Excluded packages', value: `${s.excluded}: need the secondary approval` }]
      : []),
    { label: 'Plan hash', value: plan.hash.slice(0, 16) },
  ];
}

/** One line per server: its ring and packages (cut), with CVEs and reboot in the detail. */
export function serverLines(
  plan: Pick<PlanRow, 'policySnapshot'>,
  items: readonly PlanItemRow[],
): ListItem[] {
  const byServer = new Map<number, PlanItemRow[]>();
  for (const i of items) byServer.set(i.serverId, [...(byServer.get(i.serverId) ?? []), i]);
  return [...byServer.values()].map((list) => {
    const first = list[0]!;
    const ring = plan.policySnapshot.rings[first.ring]?.name ?? `ring ${first.ring}`;
    const pkgs = list.map(
      (i) => `${i.package}${i.excluded ? ' [excluded]' : ''} ${i.fromVersion} → ${i.toVersion}`,
    );
    const cves = [...new Set(list.flatMap((i) => i.cves))];
    return {
      text: oneLine(`${first.serverName} [${ring}]: ${pkgs.join(', ')}`, 300),
      detail: oneLine(
        [
          plural(list.length, 'package'),
          ...(cves.length ? [`${plural(cves.length, 'CVE')}`] : []),
          ...(list.some((i) => i.rebootExpected) ? ['needs a reboot'] : []),
        ].join(' · '),
        200,
      ),
    };
  });
}

/** The plan's own message (subject patch-plan): posted when built, updated on every status change. */
export function planMessage(plan: PlanRow, items: readonly PlanItemRow[], publicUrl: string): Reply {
  const s = summarize(plan, items);
  const lines = serverLines(plan, items);
  const n = plan.notes;
  const context = [
    `Status: ${STATUS_TEXT[plan.status]} · built by ${plan.createdRef.replace(/^user:/, '')}`,
    ...(n.notPlanned?.length
      ? [
          `Not planned: ${n.notPlanned
            .slice(0, 5)
            .map((x) => `${x.server} (${x.reason})`)
            .join('; ')}${n.notPlanned.length > 5 ? '; …' : ''}`,
        ]
      : []),
    ...(n.skipped?.length ? [`${plural(n.skipped.length, 'package')} kept off by exceptions`] : []),
    ...(n.heldBack?.length
      ? [`${plural(n.heldBack.length, 'excluded package')} held back (--skip-excluded)`]
      : []),
    ...(n.refused?.length
      ? [`${plural(n.refused.length, 'package')} refused: invalid name or version in scan output`]
      : []),
    ...(lines.length > CHAT_LIST_LIMIT ? [`Showing ${CHAT_LIST_LIMIT} of ${lines.length} servers.`] : []),
  ];
  return {
    visibility: 'public',
    header: planTitle(plan, s),
    fields: planFields(plan, s),
    items: lines.slice(0, CHAT_LIST_LIMIT),
    context,
    moreUrl: `${publicUrl.replace(/\/$/, '')}/api/v1/plans/${plan.id}`,
    ...(STATUS_TONE[plan.status] ? { tone: STATUS_TONE[plan.status] } : {}),
  };
}

/** The change request's description: the whole plan in plain text. */
export function planDescription(plan: PlanRow, items: readonly PlanItemRow[]): string {
  const s = summarize(plan, items);
  const out = [planTitle(plan, s), '', ...planFields(plan, s).map((f) => `${f.label}: ${f.value}`), ''];
  for (const i of items) {
    const ring = plan.policySnapshot.rings[i.ring]?.name ?? String(i.ring);
    const cves = i.cves.length ? ` (${i.cves.join(', ')})` : '';
    out.push(
      `${i.serverName} [${ring}]: ${i.package}${i.arch ? `:${i.arch}` : ''} ${i.fromVersion} → ${i.toVersion} ${i.classification}/${i.severity}${cves}${i.excluded ? ' EXCLUDED' : ''}${i.rebootExpected ? ' reboot' : ''}`,
    );
  }
  out.push('', `Plan hash: ${plan.hash}`);
  return out.join('\n');
}

export { STATUS_TEXT };
