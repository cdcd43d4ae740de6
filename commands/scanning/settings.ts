import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { parseDuration } from '../grammar.js';

/**
 * A project's scan schedule, read from `projects.settings.scan`:
 *
 *   { "every": "7d", "staleAfter": "8d" }                              (the default)
 *   { "cron": "0 3 * * 1", "timezone": "Europe/Paris", "staleAfter": "8d" }
 *   { "enabled": false }                                               (no scheduled scans)
 *
 * `cron` may also hold an interval (`"7d"`), read as `every`. A result older than `staleAfter`
 * (default: the interval plus one day of grace) is shown as STALE, never as current.
 */
export interface ScanSchedule {
  enabled: boolean;
  /** Set for interval schedules. */
  everyMs: number | null;
  /** Set for cron schedules. */
  cron: string | null;
  timezone: string;
  staleAfterMs: number;
}

const DAY = 86_400_000;
export const DEFAULT_SCAN_INTERVAL_MS = 7 * DAY;
const GRACE_MS = DAY;

function duration(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    return parseDuration(value);
  } catch {
    return undefined;
  }
}

function validCron(expression: string, timezone: string): boolean {
  try {
    CronExpressionParser.parse(expression, { tz: timezone });
    return true;
  } catch {
    return false;
  }
}

function validTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** How long one cron period lasts, measured between two successive runs. */
function cronPeriodMs(expression: string, timezone: string, at: Date): number {
  const it = CronExpressionParser.parse(expression, { tz: timezone, currentDate: at });
  const a = it.next().getTime();
  const b = it.next().getTime();
  return Math.max(b - a, 60_000);
}

/**
 * The schedule of a project. Every knob that is missing or malformed falls back to its default on
 * its own, so a typo never stops scans; `checkScanSettings` reports typos when settings are written.
 */
export function scanSchedule(project: { settings?: unknown } | null | undefined, at: Date): ScanSchedule {
  const settings = project?.settings;
  const raw =
    settings && typeof settings === 'object' ? (settings as Record<string, unknown>).scan : undefined;
  const knobs = raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  const timezone =
    typeof knobs.timezone === 'string' && validTimezone(knobs.timezone) ? knobs.timezone : 'UTC';
  let everyMs: number | null = duration(knobs.every) ?? null;
  let cron: string | null = null;
  if (typeof knobs.cron === 'string') {
    const asInterval = duration(knobs.cron);
    if (asInterval !== undefined) everyMs = asInterval;
    else if (validCron(knobs.cron, timezone)) {
      cron = knobs.cron;
      everyMs = null;
    }
  }
  if (everyMs === null && cron === null) everyMs = DEFAULT_SCAN_INTERVAL_MS;
  const period = everyMs ?? cronPeriodMs(cron!, timezone, at);
  return {
    enabled: knobs.enabled !== false,
    everyMs,
    cron,
    timezone,
    staleAfterMs: duration(knobs.staleAfter) ?? period + GRACE_MS,
  };
}

/** Is a scheduled scan due, given when the project was last scanned as a whole? */
export function scanIsDue(schedule: ScanSchedule, lastScanAt: Date | undefined, now: Date): boolean {
  if (!schedule.enabled) return false;
  if (!lastScanAt) return true;
  if (schedule.everyMs !== null) return now.getTime() - lastScanAt.getTime() >= schedule.everyMs;
  const previous = CronExpressionParser.parse(schedule.cron!, { tz: schedule.timezone, currentDate: now })
    .prev()
    .toDate();
  return lastScanAt < previous;
}

export interface Staleness {
  /** Age of the last good scan; null when the server was never scanned successfully. */
  ageMs: number | null;
  stale: boolean;
  staleAfterMs: number;
}

/** State = f(now): a result older than the project's threshold (or none at all) is stale. */
export function stalenessOf(lastGoodScanAt: Date | null, schedule: ScanSchedule, now: Date): Staleness {
  if (!lastGoodScanAt) return { ageMs: null, stale: true, staleAfterMs: schedule.staleAfterMs };
  const ageMs = Math.max(0, now.getTime() - lastGoodScanAt.getTime());
  return { ageMs, stale: ageMs > schedule.staleAfterMs, staleAfterMs: schedule.staleAfterMs };
}

const ScanSettings = z
  .object({
    enabled: z.boolean().optional(),
    every: z.string().optional(),
    cron: z.string().optional(),
    timezone: z.string().optional(),
    staleAfter: z.string().optional(),
  })
  .strict();

/** Validate `settings.scan` before it is stored; returns the errors for the person editing it. */
export function checkScanSettings(raw: unknown): string[] {
  if (raw === undefined) return [];
  const parsed = ScanSettings.safeParse(raw);
  if (!parsed.success) return parsed.error.issues.map((i) => `scan.${i.path.join('.')}: ${i.message}`);
  const s = parsed.data;
  const errors: string[] = [];
  const tz = s.timezone ?? 'UTC';
  if (s.timezone !== undefined && !validTimezone(s.timezone))
    errors.push(`scan.timezone: unknown time zone ${s.timezone}`);
  if (s.every !== undefined && duration(s.every) === undefined)
    errors.push('scan.every: write it like 7d or 12h');
  if (s.cron !== undefined && duration(s.cron) === undefined && !validCron(s.cron, tz)) {
    errors.push('scan.cron: not a cron expression (like "0 3 * * 1") or an interval (like 7d)');
  }
  if (s.staleAfter !== undefined && duration(s.staleAfter) === undefined) {
    errors.push('scan.staleAfter: write it like 8d');
  }
  return errors;
}
