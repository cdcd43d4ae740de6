import { compliancePlannerSettings } from '../../storage/compliance.js';
import { type DailyRollup, listDailyRollups, upsertDailyRollups } from '../../storage/compliance-digest.js';
import type { Queryable, Tx } from '../../storage/db.js';
import { addDays, dayBounds, localMoment } from './local-time.js';
import type { ComplianceStandards } from './standards.js';

/**
 * Daily rollups per project and local day (the project's digest time zone): servers, compliant,
 * non-compliant, unknown, pending security updates, and the mean time to patch of the security
 * updates resolved that day. Today's row is rewritten after each fleet evaluation and at digest
 * time, so the last write of a day is that day's figure; trends read these rows, never the raw
 * 90-day history.
 */
export interface RollupProject {
  id: number;
  standards: ComplianceStandards;
}

/** Writes today's row for each project (one statement, in the caller's transaction); returns each project's local day. */
export async function rollupToday(
  tx: Tx,
  projects: readonly RollupProject[],
  now: Date,
): Promise<Map<number, string>> {
  const days = new Map<number, string>();
  const targets = projects.map((p) => {
    const { day } = localMoment(now, p.standards.digest.timezone);
    days.set(p.id, day);
    const { start, end } = dayBounds(day, p.standards.digest.timezone);
    return { projectId: p.id, day, dayStart: start, dayEnd: end };
  });
  await Promise.all([compliancePlannerSettings(tx), upsertDailyRollups(tx, targets, now)]);
  return days;
}

export interface TrendPoint {
  day: string;
  /** Compliant share of the servers, 0–100; null when the project had no servers. */
  compliancePct: number | null;
  pendingSecurity: number | null;
  /** Mean time to patch in days; null on days nothing was patched. */
  mttpDays: number | null;
}

/**
 * The last `days` days ending `today`, one point per day. A day without a row (Warden was down)
 * carries the previous day's state forward; mean time to patch is never carried (nothing was
 * measured that day).
 */
export function trendFrom(rows: readonly DailyRollup[], today: string, days: number): TrendPoint[] {
  const byDay = new Map(rows.map((r) => [r.day, r]));
  const points: TrendPoint[] = [];
  let carried: DailyRollup | undefined = rows.filter((r) => r.day < addDays(today, -(days - 1))).at(-1);
  for (let i = days - 1; i >= 0; i--) {
    const day = addDays(today, -i);
    const row = byDay.get(day);
    if (row) carried = row;
    const state = row ?? carried;
    points.push({
      day,
      compliancePct: state && state.servers > 0 ? (100 * state.compliant) / state.servers : null,
      pendingSecurity: state ? state.pendingSecurity : null,
      mttpDays: row?.mttpSeconds != null ? row.mttpSeconds / 86_400 : null,
    });
  }
  return points;
}

/** The rollup rows a 30-day trend needs (one more day before, to carry forward). */
export async function loadTrend(
  sql: Queryable,
  projectId: number,
  today: string,
  days = 30,
): Promise<{ rows: DailyRollup[]; points: TrendPoint[] }> {
  const rows = await listDailyRollups(sql, projectId, addDays(today, -days), today);
  return { rows, points: trendFrom(rows, today, days) };
}
