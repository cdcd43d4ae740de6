import type { ListItem, Reply } from '../../bot/chat/model.js';
import type { RunOutcomeStatus, RunServerRow, RunServerState } from '../../storage/patch-runs.js';
import type { PlanItemRow, PlanRow } from '../../storage/patching.js';
import { countStates, countsText } from './run-notify.js';

/**
 * The before/after report of a run: per server, each package from → to, the result and how long
 * it took. Posted in the plan's thread (a short list) and attached to the change request in full.
 */

export interface PackageChange {
  package: string;
  arch: string;
  from: string;
  to: string;
}

export interface ServerReport {
  server: string;
  ring: number;
  state: RunServerState;
  /** From the first step to the final state; null when the server never started. */
  durationMs: number | null;
  error: string | null;
  attempts: number;
  packages: PackageChange[];
}

export interface RunReport {
  planId: number;
  project: string;
  outcome: RunOutcomeStatus;
  servers: ServerReport[];
  haltedReason: string | null;
}

const RESULT: Record<RunServerState, string> = {
  pending: 'not started',
  'backing-up': 'stopped while backing up',
  pre: 'stopped during pre-commands',
  installing: 'stopped while installing',
  rebooting: 'stopped while rebooting',
  post: 'stopped during post-commands',
  checking: 'stopped during checks',
  confirming: 'stopped while confirming',
  succeeded: 'succeeded',
  failed: 'failed',
  'rolling-back': 'stopped while rolling back',
  'rolled-back': 'rolled back',
  'skipped-cutoff': 'not started: the window closed',
  'skipped-halted': 'not started: the run halted',
};

export function durationText(ms: number | null): string {
  if (ms === null) return '—';
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${seconds % 60}s`;
  return `${Math.floor(minutes / 60)}h ${minutes % 60}m`;
}

export function buildReport(
  plan: Pick<PlanRow, 'id' | 'projectSlug'>,
  rows: readonly RunServerRow[],
  items: readonly PlanItemRow[],
  outcome: RunOutcomeStatus,
  haltedReason: string | null,
): RunReport {
  return {
    planId: plan.id,
    project: plan.projectSlug,
    outcome,
    haltedReason,
    servers: rows.map((row) => ({
      server: row.serverName,
      ring: row.ring,
      state: row.state,
      durationMs: row.startedAt && row.finishedAt ? row.finishedAt.getTime() - row.startedAt.getTime() : null,
      error: row.error,
      attempts: row.attempt,
      packages: items
        .filter((i) => i.serverId === row.serverId)
        .map((i) => ({ package: i.package, arch: i.arch, from: i.fromVersion, to: i.toVersion })),
    })),
  };
}

function serverLine(s: ServerReport): string {
  const why = s.error && s.state !== 'succeeded' ? `: ${s.error}` : '';
  return `${s.server} (ring ${s.ring + 1}): ${RESULT[s.state]} in ${durationText(s.durationMs)}${why}`;
}

function packageLine(p: PackageChange): string {
  return `${p.package}${p.arch ? `:${p.arch}` : ''} ${p.from || '?'} → ${p.to}`;
}

function headline(report: RunReport): string {
  const counts = countsText(countStates(report.servers));
  return `Patch plan #${report.planId} (${report.project}) ${report.outcome}: ${counts}.`;
}

/** The full report as plain text, for the change request. */
export function reportText(report: RunReport): string {
  const lines = [headline(report)];
  if (report.haltedReason) lines.push(`The run halted: ${report.haltedReason}`);
  for (const s of report.servers) {
    lines.push('', serverLine(s));
    for (const p of s.packages) lines.push(`  ${packageLine(p)}`);
  }
  return lines.join('\n');
}

/** The report as a thread reply: one line per server, packages in the detail (adapters cut long lists). */
export function reportReply(report: RunReport): Reply {
  const items: ListItem[] = report.servers.map((s) => ({
    text: serverLine(s),
    detail:
      s.packages.slice(0, 8).map(packageLine).join(' · ') +
      (s.packages.length > 8 ? ` · and ${s.packages.length - 8} more` : ''),
  }));
  return {
    visibility: 'public',
    tone: report.outcome === 'succeeded' ? 'success' : 'warning',
    header: `Before/after report, patch plan #${report.planId}`,
    text: `${headline(report)}${report.haltedReason ? ` The run halted: ${report.haltedReason}` : ''}`,
    items,
  };
}
