import type { ComplianceState, ServerComplianceFacts, StoredReason } from '../../storage/compliance.js';
import { formatDuration } from '../grammar.js';
import type { ComplianceStandards } from './standards.js';

/**
 * The rules, as pure functions of a server's facts, its project's standards and now. A server is
 * compliant, non-compliant (every reason listed), or unknown: a missing or stale scan never
 * counts as compliant. Reasons are stored as facts with their onset (`since`), and turned into
 * words at read time, so nothing stored goes stale as time passes.
 */
export type ReasonCode =
  | 'never-scanned'
  | 'scan-stale'
  | 'security-overdue'
  | 'update-overdue'
  | 'key-rotation-overdue'
  | 'unknown-keys'
  | 'baseline-failing';

export interface Reason {
  code: ReasonCode;
  /** When the reason started to hold (a threshold crossed, a scan or audit that found it). */
  since: Date;
  count?: number;
  items?: string[];
}

export interface Evaluation {
  state: ComplianceState;
  reasons: Reason[];
  /** When the current state began, as far as the facts say (before clamping to what was observed). */
  onset: Date;
}

const DAY = 86_400_000;

const later = (a: Date, b: Date) => (a > b ? a : b);
const plus = (at: Date, ms: number) => new Date(at.getTime() + ms);

function scanReasons(f: ServerComplianceFacts, std: ComplianceStandards, now: Date): Reason[] {
  const reasons: Reason[] = [];
  const patchMs = std.securityPatchDays * DAY;
  if (f.openSecurity > 0 && f.oldestUrgentAt && now.getTime() - f.oldestUrgentAt.getTime() > patchMs) {
    reasons.push({ code: 'security-overdue', since: plus(f.oldestUrgentAt, patchMs), count: f.openSecurity });
  }
  // "Not updated for N days" matters only while something is waiting to be installed.
  const reference = f.lastUpdateAt ?? f.createdAt;
  const alertMs = std.updateAlertDays * DAY;
  if (f.openTotal > 0 && now.getTime() - reference.getTime() > alertMs) {
    reasons.push({ code: 'update-overdue', since: plus(reference, alertMs), count: f.openTotal });
  }
  return reasons;
}

function independentReasons(f: ServerComplianceFacts, std: ComplianceStandards): Reason[] {
  const reasons: Reason[] = [];
  if (f.keysOverdue > 0 && f.keyDueAt) {
    reasons.push({ code: 'key-rotation-overdue', since: f.keyDueAt, count: f.keysOverdue });
  }
  if (std.requireNoUnknownKeys && f.unknownKeys && f.unknownKeys > 0 && f.keyAuditAt) {
    reasons.push({ code: 'unknown-keys', since: f.keyAuditAt, count: f.unknownKeys });
  }
  if (std.baseline.enabled && f.baselineFailing && f.baselineFailing.length > 0 && f.baselineCheckedAt) {
    reasons.push({
      code: 'baseline-failing',
      since: f.baselineCheckedAt,
      count: f.baselineFailing.length,
      items: f.baselineFailing.slice(0, 10),
    });
  }
  return reasons;
}

function earliest(reasons: readonly Reason[], fallback: Date): Date {
  return reasons.reduce((min, r) => (r.since < min ? r.since : min), fallback);
}

/** The state of one server now. */
export function evaluateServer(f: ServerComplianceFacts, std: ComplianceStandards, now: Date): Evaluation {
  const independent = independentReasons(f, std);
  if (!f.lastGoodScanAt || now.getTime() - f.lastGoodScanAt.getTime() > std.staleAfterMs) {
    const scan: Reason = f.lastGoodScanAt
      ? { code: 'scan-stale', since: plus(f.lastGoodScanAt, std.staleAfterMs) }
      : { code: 'never-scanned', since: f.createdAt };
    const asOfLastScan = f.lastGoodScanAt ? scanReasons(f, std, now) : [];
    const reasons = [scan, ...asOfLastScan, ...independent];
    // Facts that do not depend on the scan still make it non-compliant; otherwise nobody knows.
    return independent.length > 0
      ? { state: 'non-compliant', reasons, onset: earliest(independent, now) }
      : { state: 'unknown', reasons, onset: scan.since };
  }
  const reasons = [...scanReasons(f, std, now), ...independent];
  if (reasons.length > 0) return { state: 'non-compliant', reasons, onset: earliest(reasons, now) };
  return { state: 'compliant', reasons, onset: f.lastGoodScanAt };
}

/**
 * The next moment time alone could change this server's evaluation: a pending security update
 * passing the standard, the update threshold, the scan going stale, a key reaching its rotation
 * date. Null when none is ahead (only new facts can change it then).
 */
export function nextCheckAt(f: ServerComplianceFacts, std: ComplianceStandards, now: Date): Date | null {
  const candidates: number[] = [];
  if (f.openSecurity > 0 && f.oldestUrgentAt)
    candidates.push(f.oldestUrgentAt.getTime() + std.securityPatchDays * DAY);
  if (f.openTotal > 0) candidates.push((f.lastUpdateAt ?? f.createdAt).getTime() + std.updateAlertDays * DAY);
  if (f.lastGoodScanAt) candidates.push(f.lastGoodScanAt.getTime() + std.staleAfterMs);
  if (f.keyNextDueAt) candidates.push(f.keyNextDueAt.getTime());
  // "Past" means strictly after the threshold (see evaluateServer), so look again just after it.
  const ahead = candidates.filter((t) => t >= now.getTime()).map((t) => t + 1);
  return ahead.length > 0 ? new Date(Math.min(...ahead)) : null;
}

/**
 * When the server entered `next.state`. Never before the previous state began (or, after an
 * unknown spell, before the scan that ended it), never after now. A threshold crossed between
 * two evaluations gets its exact crossing time; a server that became compliant gets now, since
 * what fixed it (a rotation, an audit) may carry no time of its own.
 */
export function enteredAt(
  prev: { state: ComplianceState; since: Date } | null,
  next: Evaluation,
  f: Pick<ServerComplianceFacts, 'createdAt' | 'lastGoodScanAt'>,
  now: Date,
): Date {
  let lower = prev ? prev.since : f.createdAt;
  if (prev?.state === 'unknown' && f.lastGoodScanAt) lower = later(lower, f.lastGoodScanAt);
  const onset = prev && next.state === 'compliant' ? now : next.onset;
  const clamped = later(onset, lower);
  return clamped > now ? now : clamped;
}

export function toStoredReasons(reasons: readonly Reason[]): StoredReason[] {
  return reasons.map((r) => ({
    code: r.code,
    since: r.since.toISOString(),
    ...(r.count !== undefined ? { count: r.count } : {}),
    ...(r.items ? { items: r.items } : {}),
  }));
}

export function fromStoredReasons(stored: readonly StoredReason[]): Reason[] {
  return stored.map((r) => ({
    code: r.code as ReasonCode,
    since: new Date(r.since),
    ...(r.count !== undefined ? { count: r.count } : {}),
    ...(r.items ? { items: r.items } : {}),
  }));
}

/** `12d`, `5h`: durations the way the chat shows ages. */
export function shortAge(ms: number): string {
  if (ms >= 2 * DAY) return `${Math.floor(ms / DAY)}d`;
  return formatDuration(Math.max(60_000, Math.round(ms / 60_000) * 60_000));
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** A reason in words, ages computed against now. */
export function reasonText(r: Reason, std: ComplianceStandards, now: Date): string {
  const count = r.count ?? 0;
  const ago = shortAge(now.getTime() - r.since.getTime());
  switch (r.code) {
    case 'never-scanned':
      return 'never scanned successfully';
    case 'scan-stale':
      return `last good scan older than ${shortAge(std.staleAfterMs)} (stale for ${ago})`;
    case 'security-overdue':
      return `${plural(count, 'security update')} pending past the ${std.securityPatchDays}-day standard (overdue ${ago})`;
    case 'update-overdue':
      return `not updated for over ${std.updateAlertDays} days while ${plural(count, 'update')} ${count === 1 ? 'is' : 'are'} pending (crossed ${ago} ago)`;
    case 'key-rotation-overdue':
      return `${plural(count, 'key')} past ${count === 1 ? 'its' : 'their'} rotation date (overdue ${ago})`;
    case 'unknown-keys':
      return `${plural(count, 'authorized key')} Warden does not know (audit ${ago} ago)`;
    case 'baseline-failing':
      return `${plural(count, 'baseline check')} failing: ${(r.items ?? []).join(', ')}`;
  }
}
