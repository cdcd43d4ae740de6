import type { Context } from 'hono';
import { z } from 'zod';
import type { Deps } from '../../../commands/deps.js';
import { ProjectSlug } from '../../../commands/inventory/schema.js';
import { buildReport, REPORT_KINDS, type Report, renderReport } from '../../../commands/reports/index.js';
import { AppError } from '../../../lib/errors.js';
import type { AppEnv } from '../../http/context.js';
import { authenticateRequest, requirePermission } from '../auth.js';
import { type ApiRoute, defineRoute } from '../registry.js';

/**
 * GET /reports/{kind}: the compliance, per-user, per-vendor and trends reports, as JSON (default),
 * CSV or PDF (`format=`). The same builders as the dashboard and the scheduled e-mail; each checks
 * its permission on the projects it covers (the per-user report needs audit:read).
 */
const ReportQuery = z
  .object({
    project: ProjectSlug.optional(),
    since: z.iso
      .datetime({ offset: true })
      .optional()
      .describe('start of the period (default 30 days before until)'),
    until: z.iso.datetime({ offset: true }).optional().describe('end of the period (default now)'),
    format: z.enum(['json', 'csv', 'pdf']).optional().describe('json (default), csv or pdf'),
  })
  .strict();

const CellView = z.union([z.string(), z.number(), z.boolean(), z.null()]);
export const ReportView = z.object({
  kind: z.enum(REPORT_KINDS),
  title: z.string(),
  scope: z.union([z.array(z.string()), z.literal('all')]),
  generatedAt: z.iso.datetime(),
  period: z.object({ since: z.iso.datetime(), until: z.iso.datetime() }),
  summary: z.array(z.object({ label: z.string(), value: z.string() })),
  columns: z.array(z.object({ key: z.string(), label: z.string() })),
  rows: z.array(z.record(z.string(), CellView)),
  notes: z.array(z.string()),
  hasChart: z.boolean(),
});

export function reportView(r: Report): z.input<typeof ReportView> {
  return {
    kind: r.kind,
    title: r.title,
    scope: r.scope,
    generatedAt: r.generatedAt.toISOString(),
    period: { since: r.period.since.toISOString(), until: r.period.until.toISOString() },
    summary: r.summary,
    columns: r.columns.map((c) => ({ key: c.key, label: c.label })),
    rows: r.rows.map((row) =>
      Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v])),
    ),
    notes: r.notes,
    hasChart: r.chart !== undefined,
  };
}

async function reportFrom(c: Context<AppEnv>, deps: Deps) {
  const actor = await authenticateRequest(c, deps);
  const kind = z.enum(REPORT_KINDS).safeParse(c.req.param('kind'));
  if (!kind.success) throw new AppError('not_found', `reports are ${REPORT_KINDS.join(', ')}`);
  requirePermission(actor, kind.data === 'users' ? 'audit:read' : 'compliance:read');
  const parsed = ReportQuery.safeParse(c.req.query());
  if (!parsed.success) {
    throw new AppError(
      'bad_request',
      `the query is not valid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  const q = parsed.data;
  const report = await buildReport(deps, actor, {
    kind: kind.data,
    ...(q.project ? { project: q.project } : {}),
    ...(q.since ? { since: new Date(q.since) } : {}),
    ...(q.until ? { until: new Date(q.until) } : {}),
    chart: q.format === 'pdf',
  });
  return { format: q.format ?? 'json', report };
}

const getReport: ApiRoute = {
  ...defineRoute({
    method: 'get',
    path: '/reports/{kind}',
    operationId: 'getReport',
    summary: 'A compliance, users, vendors or trends report (JSON, or CSV/PDF with format=)',
    description:
      'compliance: per server, state with reasons and ages. users: access requested/granted/used and approvals ' +
      'given with their speed (audit:read). vendors: which packages and sources cause the most patches and failures. ' +
      'trends: coverage, compliance, mean time to patch, time to remediate critical, per day.',
    tag: 'reports',
    permission: 'compliance:read',
    params: z.object({ kind: z.enum(REPORT_KINDS) }),
    query: ReportQuery,
    response: ReportView,
    handler: async () => {
      throw new Error('getReport is answered by its own handle');
    },
  }),
  async handle(c, deps) {
    const { format, report } = await reportFrom(c, deps);
    if (format === 'json') return c.json(ReportView.parse(reportView(report)));
    const file = await renderReport(report, format);
    return c.body(new Uint8Array(file.body), 200, {
      'content-type': file.contentType,
      'content-disposition': `attachment; filename="${file.filename}"`,
    });
  },
};

export const reportRoutes: ApiRoute[] = [getReport];
