import type { Field, Notification, Reply, SubjectRef } from '../../bot/chat/model.js';
import type { RunRow, RunServerRow, RunServerStatus, RunStatus } from '../../storage/script-runs.js';
import type { ScriptVersionRow } from '../../storage/scripts.js';
import { formatDuration } from '../grammar.js';

/**
 * How runs look in chat: one message per run (edited in place as it moves) and a thread under it
 * with each server's exit code, duration and the end of its output, cut to a limit; the full
 * output stays in the database and is served by the API.
 */
export const SCRIPT_RUN_SUBJECT = 'script-run';
/** Characters of each stream shown per server in chat; the rest is a link away. */
export const CHAT_OUTPUT_CHARS = 1_200;
/** Per-server thread replies per run; past this only the summary lists the rest. */
export const MAX_SERVER_REPLIES = 50;

export function runRef(runId: number): SubjectRef {
  return { type: SCRIPT_RUN_SUBJECT, id: String(runId) };
}

export function outputUrl(publicUrl: string, runId: number, server: string): string {
  return `${publicUrl.replace(/\/$/, '')}/api/v1/script-runs/${runId}/servers/${encodeURIComponent(server)}/output`;
}

const STATUS_TEXT: Record<RunStatus, string> = {
  'awaiting-approval': 'waiting for approval',
  queued: 'queued',
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  'partially-failed': 'partially failed',
  cancelled: 'cancelled',
  denied: 'denied',
  expired: 'expired before approval',
  interrupted: 'interrupted (Warden stopped while it ran)',
};

const TONE: Partial<Record<RunStatus, Reply['tone']>> = {
  succeeded: 'success',
  failed: 'error',
  'partially-failed': 'warning',
  cancelled: 'warning',
  denied: 'warning',
  expired: 'warning',
  interrupted: 'error',
};

const SERVER_MARK: Record<RunServerStatus, string> = {
  pending: '…',
  running: '▶',
  succeeded: '✔',
  failed: '✘',
  'timed-out': '⏱',
  cancelled: '■',
  skipped: '↷',
  error: '⚠',
};

/** `a=1, b="x y"`, each value cut short: what the run was given. */
export function paramsText(params: Record<string, string>): string {
  const entries = Object.entries(params);
  if (entries.length === 0) return 'none';
  return entries
    .map(([k, v]) => {
      const chars = [...v];
      return `${k}=${JSON.stringify(chars.length > 60 ? `${chars.slice(0, 60).join('')}…` : v)}`;
    })
    .join(', ');
}

export function scopeText(run: Pick<RunRow, 'scopeKind' | 'scopeValue'>): string {
  return run.scopeKind === 'server' ? run.scopeValue : `${run.scopeKind} ${run.scopeValue}`;
}

export function countByStatus(servers: readonly RunServerRow[]): Partial<Record<RunServerStatus, number>> {
  const counts: Partial<Record<RunServerStatus, number>> = {};
  for (const s of servers) counts[s.status] = (counts[s.status] ?? 0) + 1;
  return counts;
}

function countsText(servers: readonly RunServerRow[]): string {
  const counts = countByStatus(servers);
  return (Object.entries(counts) as [RunServerStatus, number][])
    .map(([status, n]) => `${n} ${status}`)
    .join(' · ');
}

/** The run's own message: what, where, by whom, and how far it got. */
export function runMessage(
  run: RunRow,
  version: Pick<ScriptVersionRow, 'risk'>,
  servers: readonly RunServerRow[],
  requester: string,
): Reply {
  const fields: Field[] = [
    { label: 'Script', value: `${run.scriptName} v${run.version} (${version.risk} risk)` },
    { label: 'On', value: `${scopeText(run)} (${servers.length} server${servers.length === 1 ? '' : 's'})` },
    { label: 'Parameters', value: paramsText(run.params) },
    { label: 'Requested by', value: requester },
    { label: 'Status', value: STATUS_TEXT[run.status] },
  ];
  if (servers.length > 0) fields.push({ label: 'Servers', value: countsText(servers) });
  if (run.error) fields.push({ label: 'Why', value: run.error });
  return {
    visibility: 'public',
    header: `Run #${run.id}: ${run.scriptName} on ${scopeText(run)}`,
    fields,
    ...(TONE[run.status] ? { tone: TONE[run.status] } : {}),
    context: [`Cancel with \`/warden run cancel ${run.id}\` · status: \`/warden run status ${run.id}\``],
  };
}

/**
 * The last `max` characters of a stream, marked when cut. NUL is shown as ␀: chat cannot carry
 * it, and the outbox's jsonb cannot store it (the full output keeps the real bytes).
 */
export function tail(raw: string, max = CHAT_OUTPUT_CHARS): { text: string; cut: boolean } {
  const text = raw.replaceAll('\0', '\u2400');
  if (text.length <= max) return { text, cut: false };
  return { text: `…${text.slice(text.length - max)}`, cut: true };
}

export function serverLine(s: RunServerRow): string {
  const how =
    s.status === 'timed-out'
      ? 'timed out'
      : s.exitCode !== null
        ? `exit ${s.exitCode}`
        : s.signal
          ? `signal ${s.signal}`
          : s.status;
  const took = s.durationMs !== null ? ` in ${formatDuration(Math.max(s.durationMs, 1000))}` : '';
  const why = s.error ? ` — ${s.error}` : '';
  return `${SERVER_MARK[s.status]} ${s.serverName}: ${how}${took}${why}`;
}

/** One server's result for the run's thread, with the end of its output. */
export function serverReply(
  publicUrl: string,
  run: RunRow,
  s: RunServerRow,
  output: { stdout: string; stderr: string },
): Notification {
  const out = tail(output.stdout);
  const err = tail(output.stderr);
  const parts = [serverLine(s)];
  if (out.text) parts.push(`stdout:\n\`\`\`\n${out.text}\n\`\`\``);
  if (err.text) parts.push(`stderr:\n\`\`\`\n${err.text}\n\`\`\``);
  const cut = out.cut || err.cut || s.truncated;
  return {
    kind: 'thread-reply',
    subject: runRef(run.id),
    projectId: run.projectId,
    reply: {
      visibility: 'public',
      text: parts.join('\n'),
      tone: s.status === 'succeeded' ? 'success' : s.status === 'skipped' ? 'info' : 'error',
      ...(cut
        ? {
            moreUrl: outputUrl(publicUrl, run.id, s.serverName),
            context: ['Output cut; the full output is at the link.'],
          }
        : {}),
    },
  };
}

/** The closing reply in the thread: every server's line (cut to a limit). */
export function summaryReply(run: RunRow, servers: readonly RunServerRow[]): Notification {
  const lines = servers.slice(0, MAX_SERVER_REPLIES).map(serverLine);
  if (servers.length > MAX_SERVER_REPLIES)
    lines.push(`…and ${servers.length - MAX_SERVER_REPLIES} more (see the API)`);
  return {
    kind: 'thread-reply',
    subject: runRef(run.id),
    projectId: run.projectId,
    reply: {
      visibility: 'public',
      header: `Run #${run.id} ${STATUS_TEXT[run.status]}`,
      text: lines.join('\n'),
      ...(TONE[run.status] ? { tone: TONE[run.status] } : {}),
    },
  };
}

export function runStatusText(status: RunStatus): string {
  return STATUS_TEXT[status];
}
