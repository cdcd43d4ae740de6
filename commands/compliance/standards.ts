import { createHash } from 'node:crypto';
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { canonicalJson } from '../../lib/canonical-json.js';
import { DEFAULT_ROTATE_EVERY_MS, projectRotateEveryMs } from '../keys/policy.js';
import { scanSchedule } from '../scanning/settings.js';

/**
 * A project's compliance standards, read from `projects.settings.compliance`:
 *
 *   {
 *     "securityPatchDays": 7,          security/critical updates installed within N days of first seen
 *     "updateAlertDays": 90,           last successful update within N days (while updates are pending)
 *     "scanGraceHours": 24,            a scan older than the scan interval plus this is stale → unknown
 *     "requireNoUnknownKeys": true,    the last audit found no authorized key Warden does not know
 *     "baseline": { "enabled": true }  configuration baseline passing (filled by the baselines capability)
 *     "digest": { "time": "09:00", "timezone": "Europe/Paris", "enabled": true }
 *   }
 *
 * Key rotation follows the keys policy (`settings.keys.rotateEvery`, default 30 days). Every knob
 * that is missing or malformed falls back to its default on its own, so a typo never stops
 * evaluation; `checkComplianceSettings` reports typos when settings are written.
 */
export interface ComplianceStandards {
  securityPatchDays: number;
  updateAlertDays: number;
  /** A result older than this is stale: the scan interval plus the grace (or scanning's own staleAfter). */
  staleAfterMs: number;
  /** How often service keys on the project's servers must be rotated. */
  keyRotationMs: number;
  requireNoUnknownKeys: boolean;
  baseline: BaselineStandard;
  digest: DigestSchedule;
}

/** The baselines capability adds its knobs here; evaluation only reads `enabled`. */
export interface BaselineStandard {
  enabled: boolean;
  [knob: string]: unknown;
}

export interface DigestSchedule {
  enabled: boolean;
  /** Local time of day, HH:MM (24-hour). */
  time: string;
  timezone: string;
}

export const DEFAULT_SECURITY_PATCH_DAYS = 7;
export const DEFAULT_UPDATE_ALERT_DAYS = 90;
export const DEFAULT_DIGEST_TIME = '09:00';
const HOUR = 3_600_000;
const TIME_OF_DAY = /^([01]\d|2[0-3]):([0-5]\d)$/;

function validTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function knobsOf(value: unknown): Record<string, unknown> {
  return value && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function wholeDays(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 3650
    ? value
    : fallback;
}

/** How long one period of the project's scan schedule lasts. */
function scanPeriodMs(schedule: ReturnType<typeof scanSchedule>, at: Date): number {
  if (schedule.everyMs !== null) return schedule.everyMs;
  const it = CronExpressionParser.parse(schedule.cron!, { tz: schedule.timezone, currentDate: at });
  const a = it.next().getTime();
  return Math.max(it.next().getTime() - a, 60_000);
}

/** The standards of a project (null: servers in no project, which get the defaults). */
export function complianceStandards(
  project: { slug?: string; settings?: Record<string, unknown> } | null,
  now: Date,
): ComplianceStandards {
  const settings = project?.settings ?? {};
  const knobs = knobsOf(settings.compliance);
  const schedule = scanSchedule(project, now);
  const grace = knobs.scanGraceHours;
  const staleAfterMs =
    typeof grace === 'number' && Number.isFinite(grace) && grace >= 0 && grace <= 24 * 365
      ? scanPeriodMs(schedule, now) + grace * HOUR
      : schedule.staleAfterMs;
  let keyRotationMs = DEFAULT_ROTATE_EVERY_MS;
  try {
    keyRotationMs = projectRotateEveryMs({ id: 0, slug: project?.slug ?? '', settings });
  } catch {
    // A broken keys policy is reported where it is edited; evaluation keeps the default.
  }
  const digest = knobsOf(knobs.digest);
  const scanTz = knobsOf(settings.scan).timezone;
  const timezone =
    typeof digest.timezone === 'string' && validTimezone(digest.timezone)
      ? digest.timezone
      : typeof scanTz === 'string' && validTimezone(scanTz)
        ? scanTz
        : 'UTC';
  const baseline = knobsOf(knobs.baseline);
  return {
    securityPatchDays: wholeDays(knobs.securityPatchDays, DEFAULT_SECURITY_PATCH_DAYS),
    updateAlertDays: wholeDays(knobs.updateAlertDays, DEFAULT_UPDATE_ALERT_DAYS),
    staleAfterMs,
    keyRotationMs,
    requireNoUnknownKeys: knobs.requireNoUnknownKeys !== false,
    baseline: { ...baseline, enabled: baseline.enabled !== false },
    digest: {
      enabled: digest.enabled !== false,
      time:
        typeof digest.time === 'string' && TIME_OF_DAY.test(digest.time) ? digest.time : DEFAULT_DIGEST_TIME,
      timezone,
    },
  };
}

const ComplianceSettings = z
  .object({
    securityPatchDays: z.number().int().min(1).max(3650).optional(),
    updateAlertDays: z.number().int().min(1).max(3650).optional(),
    scanGraceHours: z.number().min(0).max(8760).optional(),
    requireNoUnknownKeys: z.boolean().optional(),
    baseline: z.looseObject({ enabled: z.boolean().optional() }).optional(),
    digest: z
      .object({
        enabled: z.boolean().optional(),
        time: z.string().regex(TIME_OF_DAY, 'write the time like 09:00 (24-hour)').optional(),
        timezone: z.string().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** Validate `settings.compliance` before it is stored; returns the errors for the person editing it. */
export function checkComplianceSettings(raw: unknown): string[] {
  if (raw === undefined) return [];
  const parsed = ComplianceSettings.safeParse(raw);
  if (!parsed.success) {
    return parsed.error.issues.map((i) => `${['compliance', ...i.path.map(String)].join('.')}: ${i.message}`);
  }
  const tz = parsed.data.digest?.timezone;
  return tz !== undefined && !validTimezone(tz)
    ? [`compliance.digest.timezone: unknown time zone ${tz}`]
    : [];
}

/** Changes whenever a standard that evaluation reads changes (the digest schedule does not count). */
export function standardsHash(std: ComplianceStandards): string {
  const { digest: _digest, ...evaluated } = std;
  return createHash('sha256').update(canonicalJson(evaluated)).digest('hex').slice(0, 16);
}
