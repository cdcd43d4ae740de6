import type { Field, ListItem, Reply } from '../../bot/chat/model.js';
import type { CountRow, OpenFindingWithServer } from '../../storage/findings.js';
import type { ScanCounts, ScanErrorKind } from '../../storage/scans.js';
import { CLASSIFICATIONS, SEVERITIES } from './normalize.js';

/**
 * What a batch says in chat: the progress message (edited in place while it runs) and, when it
 * ends, one summary per project. Pure functions of their input, so they are tested on fixtures.
 */
export interface ServerOutcome {
  serverId: number;
  serverName: string;
  projectId: number | null;
  scanId: number | null;
  status: 'succeeded' | 'failed';
  errorKind?: ScanErrorKind;
  errorMessage?: string;
  counts?: ScanCounts;
  /** The server left the inventory before its turn came. */
  removed?: true;
}

export interface ProgressView {
  batchId: number;
  /** `localhost`, `project demo`, `all servers`. */
  scopeLabel: string;
  /** What to type to run it again: `scan <this>`. */
  scopeArg: string;
  requestedBy: string;
  total: number;
  done: number;
  failed: number;
  state: 'running' | 'done' | 'interrupted';
}

export function progressText(p: Pick<ProgressView, 'total' | 'done' | 'failed'>): string {
  return `${p.done}/${p.total} done, ${p.failed} failed`;
}

export function progressReply(p: ProgressView): Reply {
  const servers = `${p.total} server${p.total === 1 ? '' : 's'}`;
  const header =
    p.state === 'running'
      ? `Scanning ${servers} (${p.scopeLabel})…`
      : p.state === 'done'
        ? `Scan of ${p.scopeLabel} finished`
        : `Scan of ${p.scopeLabel} was interrupted`;
  const text =
    p.state === 'interrupted'
      ? `${progressText(p)} when Warden stopped; the servers not reached kept their last results. Run \`scan ${p.scopeArg}\` again.`
      : progressText(p);
  return {
    visibility: 'public',
    tone: p.state === 'running' ? 'info' : p.state === 'interrupted' || p.failed > 0 ? 'warning' : 'success',
    header,
    text,
    context: [`Scan batch #${p.batchId} · requested by ${p.requestedBy}`],
  };
}

export interface ProjectSummaryInput {
  batchId: number;
  projectLabel: string;
  outcomes: readonly ServerOutcome[];
  /** Open findings of the servers scanned successfully, by classification and severity. */
  counts: readonly CountRow[];
  /** Security findings first seen by this batch on servers scanned before (not their first scan). */
  newSecurity: readonly OpenFindingWithServer[];
  newSecurityTotal: number;
}

const MAX_NEW = 10;
const MAX_FAILED = 15;

function tally(
  rows: readonly CountRow[],
  key: 'classification' | 'severity',
  order: readonly string[],
): string {
  const sums = new Map<string, number>();
  for (const r of rows) sums.set(r[key], (sums.get(r[key]) ?? 0) + r.count);
  return order.map((k) => `${k} ${sums.get(k) ?? 0}`).join(' · ');
}

function versionChange(f: OpenFindingWithServer): string {
  return `${f.installedVersion || '?'} → ${f.candidateVersion || '?'}`;
}

export function summaryReply(input: ProjectSummaryInput): Reply {
  const failed = input.outcomes
    .filter((o) => o.status === 'failed')
    .sort((a, b) => a.serverName.localeCompare(b.serverName));
  const ok = input.outcomes.length - failed.length;
  const total = input.counts.reduce((n, r) => n + r.count, 0);
  const firstScans = input.outcomes.filter((o) => o.counts?.firstScan).length;
  const fields: Field[] = [
    {
      label: 'Servers',
      value: `${ok} of ${input.outcomes.length} scanned${failed.length ? `, ${failed.length} failed` : ''}`,
    },
    {
      label: 'Pending updates',
      value: `${total} (${tally(input.counts, 'classification', CLASSIFICATIONS)})`,
    },
    { label: 'By severity', value: tally(input.counts, 'severity', SEVERITIES) },
    {
      label: 'New security updates since last scan',
      value: `${input.newSecurityTotal}${firstScans ? ` (plus ${firstScans} server${firstScans === 1 ? '' : 's'} scanned for the first time)` : ''}`,
    },
  ];
  const items: ListItem[] = [];
  if (input.newSecurity.length > 0) {
    items.push({ text: 'New security updates' });
    for (const f of input.newSecurity.slice(0, MAX_NEW)) {
      items.push({
        text: `${f.serverName}: ${f.package} ${versionChange(f)}`,
        detail: [f.severity, ...(f.cves.length ? [f.cves.slice(0, 5).join(', ')] : [])].join(' · '),
      });
    }
    if (input.newSecurityTotal > MAX_NEW)
      items.push({ text: `…and ${input.newSecurityTotal - MAX_NEW} more` });
  }
  if (failed.length > 0) {
    items.push({ text: 'Not scanned (their last good results are kept)' });
    for (const o of failed.slice(0, MAX_FAILED)) {
      items.push({ text: `${o.serverName}: ${o.errorKind ?? 'failed'}`, detail: o.errorMessage ?? '' });
    }
    if (failed.length > MAX_FAILED) items.push({ text: `…and ${failed.length - MAX_FAILED} more` });
  }
  return {
    visibility: 'public',
    tone: failed.length > 0 || input.newSecurityTotal > 0 ? 'warning' : 'success',
    header: `Scan summary: ${input.projectLabel}`,
    fields,
    ...(items.length > 0 ? { items } : {}),
    context: [`Scan batch #${input.batchId} · type \`findings <server>\` for one server's pending updates`],
  };
}
