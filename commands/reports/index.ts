import { AppError } from '../../lib/errors.js';
import type { Deps } from '../deps.js';
import type { Actor } from '../rbac/authorize.js';
import { complianceReport } from './compliance.js';
import { toCsv } from './csv.js';
import { toPdf } from './pdf.js';
import { trendsReport } from './trends.js';
import type { Report, ReportFormat, ReportKind } from './types.js';
import { usersReport } from './users.js';
import { vendorsReport } from './vendors.js';

export type { Report, ReportFormat, ReportKind } from './types.js';
export { isReportKind, REPORT_FORMATS, REPORT_KINDS } from './types.js';

/**
 * The four downloadable reports, built the same way for the dashboard, the API and the scheduled
 * e-mail. Each checks its own permission (compliance:read; the per-user report audit:read) on
 * the project asked for, or covers every project where the caller holds it.
 */
export interface ReportInput {
  kind: ReportKind;
  project?: string;
  /** Default: 30 days before `until`. */
  since?: Date;
  /** Default: now. */
  until?: Date;
  /** Draw the chart (trends); default true. */
  chart?: boolean;
}

const DAY = 86_400_000;
const MAX_PERIOD_DAYS = 366;

export async function buildReport(deps: Deps, actor: Actor, input: ReportInput): Promise<Report> {
  const until = input.until ?? deps.clock.now();
  const since = input.since ?? new Date(until.getTime() - 30 * DAY);
  if (!(since < until)) throw new AppError('bad_request', 'since must be before until');
  if (until.getTime() - since.getTime() > MAX_PERIOD_DAYS * DAY) {
    throw new AppError('bad_request', `a report covers at most ${MAX_PERIOD_DAYS} days; narrow since/until`);
  }
  const common = { ...(input.project !== undefined ? { project: input.project } : {}), since, until };
  switch (input.kind) {
    case 'compliance':
      return complianceReport(deps, actor, common);
    case 'users':
      return usersReport(deps, actor, common);
    case 'vendors':
      return vendorsReport(deps, actor, common);
    case 'trends':
      return trendsReport(deps, actor, { ...common, ...(input.chart === false ? { chart: false } : {}) });
  }
}

export interface RenderedReport {
  body: Buffer;
  contentType: string;
  filename: string;
}

/** `warden-compliance-demo-2026-01-05.csv` */
export function reportFilename(report: Report, ext: 'csv' | 'pdf' | 'json'): string {
  const scope = report.scope === 'all' ? 'all' : report.scope.length === 1 ? report.scope[0]! : 'projects';
  const safe = scope.replace(/[^A-Za-z0-9._-]/g, '_');
  return `warden-${report.kind}-${safe}-${report.generatedAt.toISOString().slice(0, 10)}.${ext}`;
}

export async function renderReport(
  report: Report,
  format: Exclude<ReportFormat, 'json'>,
): Promise<RenderedReport> {
  if (format === 'csv') {
    return {
      body: Buffer.from(toCsv(report), 'utf8'),
      contentType: 'text/csv; charset=utf-8',
      filename: reportFilename(report, 'csv'),
    };
  }
  return {
    body: await toPdf(report),
    contentType: 'application/pdf',
    filename: reportFilename(report, 'pdf'),
  };
}
