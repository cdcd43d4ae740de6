import type { Field, ListItem, Reply } from '../../bot/chat/model.js';
import type {
  DailyRollup,
  ExpiringGrant,
  KeyDue,
  PendingApproval,
  StateCounts,
  StateRow,
} from '../../storage/compliance-digest.js';
import type { TrendPoint } from './rollup.js';
import { fromStoredReasons, reasonText, shortAge } from './rules.js';
import type { ComplianceStandards } from './standards.js';

/** What one project's digest says, gathered by digest.ts; rendering is a pure function of it. */
export interface DigestData {
  project: { id: number; slug: string; name: string };
  /** The project's local day (YYYY-MM-DD). */
  day: string;
  generatedAt: Date;
  counts: StateCounts;
  yesterday: DailyRollup | null;
  /** Servers that entered non-compliant or unknown since the previous digest (or the last 24 h). */
  crossed: StateRow[];
  crossedSince: Date;
  offenders: StateRow[];
  approvals: PendingApproval[];
  grants: ExpiringGrant[];
  keys: KeyDue[];
  trend: TrendPoint[];
  /** Mean time to patch over the trend's days, weighted by how many were patched each day. */
  mttpDays: number | null;
  rollups: DailyRollup[];
}

export const SECTION_LIMIT = 5;
export const CROSSED_LIMIT = 8;

export function percent(part: number, whole: number): number | null {
  return whole > 0 ? (100 * part) / whole : null;
}

function signed(n: number, unit = ''): string {
  if (n === 0) return `±0${unit}`;
  return `${n > 0 ? '+' : '−'}${Math.abs(Math.round(n * 10) / 10)}${unit}`;
}

/** Weighted mean time to patch (days) over rollup rows. */
export function meanTimeToPatchDays(rows: readonly DailyRollup[]): number | null {
  let seconds = 0;
  let count = 0;
  for (const r of rows) {
    if (r.mttpSeconds === null || r.securityResolved === 0) continue;
    seconds += r.mttpSeconds * r.securityResolved;
    count += r.securityResolved;
  }
  return count > 0 ? seconds / count / 86_400 : null;
}

function serverLine(row: StateRow, std: ComplianceStandards, now: Date): string {
  return fromStoredReasons(row.reasons)
    .map((r) => reasonText(r, std, now))
    .join('; ');
}

function more(total: number, shown: number, what: string): ListItem[] {
  return total > shown ? [{ text: `…and ${total - shown} more ${what}` }] : [];
}

function sections(d: DigestData, std: ComplianceStandards, now: Date): ListItem[] {
  const items: ListItem[] = [];
  for (const row of d.crossed) {
    items.push({
      text: `Crossed a threshold: ${row.serverName} is now ${row.state} (for ${shortAge(now.getTime() - row.since.getTime())})`,
      detail: serverLine(row, std, now),
    });
  }
  items.push(...more(d.crossed[0]?.total ?? 0, d.crossed.length, 'servers crossed a threshold'));
  for (const row of d.offenders) {
    const oldest = row.oldestUrgentAt
      ? `, oldest ${shortAge(now.getTime() - row.oldestUrgentAt.getTime())}`
      : '';
    items.push({
      text: `Top offender: ${row.serverName}${row.openSecurity > 0 ? ` (${row.openSecurity} security updates pending${oldest})` : ''}`,
      detail: [serverLine(row, std, now), row.owner ? `owner @${row.owner}` : 'no owner'].join(' · '),
    });
  }
  for (const a of d.approvals) {
    items.push({
      text: `Approval waiting: ${a.title}`,
      detail: `asked ${shortAge(now.getTime() - a.createdAt.getTime())} ago · expires in ${shortAge(a.expiresAt.getTime() - now.getTime())}`,
    });
  }
  items.push(...more(d.approvals[0]?.total ?? 0, d.approvals.length, 'approvals waiting'));
  for (const g of d.grants) {
    items.push({
      text: `Grant #${g.id} expires in ${shortAge(g.expiresAt.getTime() - now.getTime())}: @${g.requester} as ${g.login}`,
    });
  }
  items.push(...more(d.grants[0]?.total ?? 0, d.grants.length, 'grants expiring within a day'));
  for (const k of d.keys) {
    const due = k.dueAt.getTime() - now.getTime();
    items.push({
      text: `Key ${k.fingerprint.slice(0, 19)}… (@${k.owner}) ${due < 0 ? `rotation overdue by ${shortAge(-due)}` : `due for rotation in ${shortAge(due)}`}`,
      detail: k.purpose,
    });
  }
  items.push(...more(d.keys[0]?.total ?? 0, d.keys.length, 'keys due for rotation within 7 days'));
  return items;
}

/** The digest as a neutral reply (the chart goes with it as `image`, added by the caller). */
export function renderDigest(d: DigestData, std: ComplianceStandards, now: Date): Reply {
  const c = d.counts;
  const pct = percent(c.compliant, c.servers);
  const y = d.yesterday;
  const yPct = y ? percent(y.compliant, y.servers) : null;
  const change =
    pct !== null && yPct !== null
      ? ` (${signed(pct - yPct, ' pts')} since yesterday)`
      : y
        ? ''
        : ' (no figure for yesterday yet)';
  const summary =
    c.servers === 0
      ? 'This project has no servers yet.'
      : `${Math.round(pct ?? 0)}% compliant: ${c.compliant} of ${c.servers} servers${change}. ` +
        `${c.nonCompliant} non-compliant, ${c.unknown} unknown (stale or never scanned), ` +
        `${c.pendingSecurity} security updates pending.`;
  const fields: Field[] = [
    {
      label: 'Compliant',
      value: `${c.compliant} / ${c.servers}${y ? ` (${signed(c.compliant - y.compliant)})` : ''}`,
    },
    {
      label: 'Non-compliant',
      value: `${c.nonCompliant}${y ? ` (${signed(c.nonCompliant - y.nonCompliant)})` : ''}`,
    },
    { label: 'Unknown', value: `${c.unknown}${y ? ` (${signed(c.unknown - y.unknown)})` : ''}` },
    {
      label: 'Pending security updates',
      value: `${c.pendingSecurity}${y ? ` (${signed(c.pendingSecurity - y.pendingSecurity)})` : ''}`,
    },
    {
      label: 'Mean time to patch (30 days)',
      value:
        d.mttpDays === null ? 'nothing patched' : `${(Math.round(d.mttpDays * 10) / 10).toFixed(1)} days`,
    },
  ];
  const items = sections(d, std, now);
  return {
    visibility: 'public',
    tone: c.nonCompliant > 0 ? 'warning' : 'info',
    header: `Compliance digest: ${d.project.name} (${d.day})`,
    text: summary,
    fields,
    ...(items.length > 0 ? { items } : {}),
    context: [
      `Standards: security updates within ${std.securityPatchDays}d · updated within ${std.updateAlertDays}d · scans fresher than ${shortAge(std.staleAfterMs)} · keys rotated every ${shortAge(std.keyRotationMs)}`,
      `/warden compliance ${d.project.slug} lists every server with its reasons.`,
    ],
  };
}

/** The chart's alt text: the trend in words. */
export function chartAlt(d: DigestData): string {
  const first = d.trend.find((p) => p.compliancePct !== null);
  const last = d.trend.at(-1);
  if (!first || !last || last.compliancePct === null)
    return `No compliance history yet for ${d.project.name}.`;
  return (
    `Compliance of ${d.project.name} over ${d.trend.length} days: from ${Math.round(first.compliancePct!)}% ` +
    `to ${Math.round(last.compliancePct)}%; pending security updates from ${first.pendingSecurity ?? 0} ` +
    `to ${last.pendingSecurity ?? 0}.`
  );
}
