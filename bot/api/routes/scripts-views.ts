import { z } from 'zod';
import { formatDuration } from '../../../commands/grammar.js';
import { ParamSpec } from '../../../commands/scripts/params.js';
import type { RunRow, RunServerOutput, RunServerRow } from '../../../storage/script-runs.js';
import type { ScriptVersionRow } from '../../../storage/scripts.js';

/** What the script and run routes answer (zod, for the OpenAPI document and response checks). */
const Timestamp = z.iso.datetime();
const iso = (d: Date) => d.toISOString();
const isoOrNull = (d: Date | null) => (d ? d.toISOString() : null);

export const ScriptVersionSummaryView = z.object({
  name: z.string(),
  version: z.int(),
  description: z.string(),
  language: z.enum(['bash', 'sh', 'powershell']),
  os: z.array(z.enum(['linux', 'windows'])),
  risk: z.enum(['low', 'high']),
  timeout: z.string().describe('as a duration, e.g. 5m'),
  timeoutMs: z.int(),
  permission: z.string(),
  params: z.array(ParamSpec),
  review: z
    .enum(['not-needed', 'pending', 'approved', 'denied'])
    .describe('high-risk versions run only once approved'),
  reviewApprovalId: z.int().nullable(),
  author: z.string(),
  source: z.string(),
  definitionHash: z.string(),
  createdAt: Timestamp,
});

export const ScriptVersionView = ScriptVersionSummaryView.extend({
  body: z.string(),
  diff: z.string().describe('unified diff from the previous version'),
});

export function scriptVersionView(v: ScriptVersionRow, full: true): z.input<typeof ScriptVersionView>;
export function scriptVersionView(
  v: ScriptVersionRow,
  full?: false,
): z.input<typeof ScriptVersionSummaryView>;
export function scriptVersionView(v: ScriptVersionRow, full = false) {
  const summary = {
    name: v.scriptName,
    version: v.version,
    description: v.description,
    language: v.language,
    os: v.os,
    risk: v.risk,
    timeout: formatDuration(v.timeoutMs),
    timeoutMs: v.timeoutMs,
    permission: v.permission,
    params: v.params as z.input<typeof ParamSpec>[],
    review: v.approvalState,
    reviewApprovalId: v.approvalId,
    author: v.author,
    source: v.source,
    definitionHash: v.definitionHash,
    createdAt: iso(v.createdAt),
  };
  return full ? { ...summary, body: v.body, diff: v.diff } : summary;
}

export const SavedScriptView = z.object({
  changed: z.boolean().describe('false when the definition equalled the current version (no new version)'),
  approvalId: z.int().nullable().describe('the review opened for a new high-risk version'),
  script: ScriptVersionView,
});

const Outcome = z.array(z.string());
export const ScriptImportView = z.object({
  created: Outcome,
  updated: Outcome,
  unchanged: Outcome,
  approvals: z.array(z.int()),
});

const RunStatus = z.enum([
  'awaiting-approval',
  'queued',
  'running',
  'succeeded',
  'failed',
  'partially-failed',
  'cancelled',
  'denied',
  'expired',
  'interrupted',
]);

export const RunView = z.object({
  id: z.int(),
  script: z.string(),
  version: z.int(),
  target: z.object({ kind: z.enum(['server', 'project', 'tag']), value: z.string() }),
  params: z.record(z.string(), z.string()),
  concurrency: z.int(),
  status: RunStatus,
  requestedBy: z.string(),
  approvalId: z.int().nullable(),
  error: z.string().nullable(),
  createdAt: Timestamp,
  startedAt: Timestamp.nullable(),
  finishedAt: Timestamp.nullable(),
});

export function runView(r: RunRow): z.input<typeof RunView> {
  return {
    id: r.id,
    script: r.scriptName,
    version: r.version,
    target: { kind: r.scopeKind, value: r.scopeValue },
    params: r.params,
    concurrency: r.concurrency,
    status: r.status,
    requestedBy: r.requestedRef,
    approvalId: r.approvalId,
    error: r.error,
    createdAt: iso(r.createdAt),
    startedAt: isoOrNull(r.startedAt),
    finishedAt: isoOrNull(r.finishedAt),
  };
}

export const RunServerView = z.object({
  server: z.string(),
  status: z.enum(['pending', 'running', 'succeeded', 'failed', 'timed-out', 'cancelled', 'skipped', 'error']),
  exitCode: z.int().nullable(),
  signal: z.string().nullable(),
  timedOut: z.boolean(),
  truncated: z.boolean().describe('the output passed the per-stream cap and was cut'),
  durationMs: z.int().nullable(),
  error: z.string().nullable(),
  startedAt: Timestamp.nullable(),
  finishedAt: Timestamp.nullable(),
});

export function runServerView(s: RunServerRow): z.input<typeof RunServerView> {
  return {
    server: s.serverName,
    status: s.status,
    exitCode: s.exitCode,
    signal: s.signal,
    timedOut: s.timedOut,
    truncated: s.truncated,
    durationMs: s.durationMs,
    error: s.error,
    startedAt: isoOrNull(s.startedAt),
    finishedAt: isoOrNull(s.finishedAt),
  };
}

export const RunDetailView = RunView.extend({ servers: z.array(RunServerView) });

export const RunOutputView = RunServerView.extend({ stdout: z.string(), stderr: z.string() });

export function runOutputView(o: RunServerOutput): z.input<typeof RunOutputView> {
  return { ...runServerView(o), stdout: o.stdout, stderr: o.stderr };
}

export const StartedRunView = RunView.extend({ serverCount: z.int() });

export const CancelledRunView = z.object({
  run: RunView,
  notStarted: z.array(z.string()),
  signalled: z.array(z.string()),
});
