import { listCriticalRemediation, listDailyTrend } from '../../storage/reports.js';
import { renderTrendChart } from '../compliance/chart.js';
import type { TrendPoint } from '../compliance/rollup.js';
import type { Deps } from '../deps.js';
import type { Actor } from '../rbac/authorize.js';
import { reportScope } from './scope.js';
import type { Report } from './types.js';

const DAY = 86_400_000;
const round1 = (n: number | null) => (n === null ? null : Math.round(n * 10) / 10);
const updates = (n: number) => `${n} update${n === 1 ? '' : 's'}`;

function daysBetween(since: Date, until: Date): string[] {
  const days: string[] = [];
  const start = Date.UTC(since.getUTCFullYear(), since.getUTCMonth(), since.getUTCDate());
  for (let t = start; t < until.getTime() && days.length < 400; t += DAY)
    days.push(new Date(t).toISOString().slice(0, 10));
  return days;
}

/**
 * Per day: coverage (servers with a usable scan), compliance, pending security updates, mean time
 * to patch security updates, and mean time to remediate critical ones; with the same PNG chart
 * as the daily digest. From the daily rollups, never from raw history. A day without a rollup
 * (Warden was down) carries the day before forward; times to patch are never carried.
 */
export async function trendsReport(
  deps: Deps,
  actor: Actor,
  input: { project?: string; since: Date; until: Date; chart?: boolean },
): Promise<Report> {
  const scope = await reportScope(deps, actor, 'compliance:read', input.project);
  const days = daysBetween(input.since, input.until);
  const [daily, critical] = await Promise.all([
    listDailyTrend(deps.sql, {
      projectIds: scope.projectIds,
      fromDay: days[0] ?? '1970-01-01',
      toDay: days.at(-1) ?? '1970-01-01',
    }),
    listCriticalRemediation(deps.sql, {
      projectIds: scope.projectIds,
      since: input.since,
      until: input.until,
    }),
  ]);
  const byDay = new Map(daily.map((d) => [d.day, d]));
  let carried: (typeof daily)[number] | undefined;
  const points: TrendPoint[] = [];
  const rows = days.map((day) => {
    const row = byDay.get(day);
    if (row) carried = row;
    const state = row ?? carried;
    const servers = state?.servers ?? null;
    const coverage =
      state && state.servers > 0 ? (100 * (state.servers - state.unknown)) / state.servers : null;
    const compliance = state && state.servers > 0 ? (100 * state.compliant) / state.servers : null;
    const mttpDays = row?.mttpSeconds != null ? row.mttpSeconds / 86_400 : null;
    const crit = critical.get(day);
    points.push({
      day,
      compliancePct: compliance,
      pendingSecurity: state?.pendingSecurity ?? null,
      mttpDays,
    });
    return {
      day,
      servers,
      coveragePct: round1(coverage),
      compliancePct: round1(compliance),
      pendingSecurity: state?.pendingSecurity ?? null,
      securityPatched: row?.securityResolved ?? 0,
      mttpDays: round1(mttpDays),
      criticalRemediated: crit?.count ?? 0,
      criticalDays: crit ? round1(crit.meanSeconds / 86_400) : null,
    };
  });
  const patched = rows.reduce((n, r) => n + r.securityPatched, 0);
  const weighted = rows.reduce((n, r) => n + (r.mttpDays ?? 0) * r.securityPatched, 0);
  const critCount = [...critical.values()].reduce((n, c) => n + c.count, 0);
  const critMean = critCount
    ? [...critical.values()].reduce((n, c) => n + c.meanSeconds * c.count, 0) / critCount / 86_400
    : null;
  const last = rows.at(-1);
  let chart: Buffer | undefined;
  if (input.chart !== false && daily.length > 0) {
    try {
      chart = await renderTrendChart(points, { title: `Compliance trend, ${days[0]} to ${days.at(-1)}` });
    } catch (error) {
      // The figures stand without the picture; say so in the log rather than fail the report.
      deps.log.warn({ err: error }, 'trend chart could not be drawn');
    }
  }
  return {
    kind: 'trends',
    title: 'Trends: coverage, compliance, time to patch',
    scope: scope.slugs,
    generatedAt: deps.clock.now(),
    period: { since: input.since, until: input.until },
    summary: [
      { label: 'Coverage now', value: last?.coveragePct != null ? `${last.coveragePct}%` : 'n/a' },
      { label: 'Compliant now', value: last?.compliancePct != null ? `${last.compliancePct}%` : 'n/a' },
      {
        label: 'Mean time to patch (security)',
        value: patched ? `${round1(weighted / patched)} days over ${updates(patched)}` : 'nothing patched',
      },
      {
        label: 'Time to remediate critical',
        value:
          critMean !== null ? `${round1(critMean)} days over ${updates(critCount)}` : 'nothing remediated',
      },
    ],
    columns: [
      { key: 'day', label: 'Day', width: 1.2 },
      { key: 'servers', label: 'Servers' },
      { key: 'coveragePct', label: 'Coverage %' },
      { key: 'compliancePct', label: 'Compliant %' },
      { key: 'pendingSecurity', label: 'Security pending' },
      { key: 'securityPatched', label: 'Security patched' },
      { key: 'mttpDays', label: 'Mean days to patch' },
      { key: 'criticalRemediated', label: 'Critical remediated' },
      { key: 'criticalDays', label: 'Mean days (critical)' },
    ],
    rows,
    ...(chart ? { chart } : {}),
    notes: [
      'Coverage: servers with a usable (fresh) scan. Days follow each project’s digest time zone; critical remediation uses UTC days.',
      'A day without figures carries the day before forward; times to patch are only for the day they were measured.',
    ],
  };
}
