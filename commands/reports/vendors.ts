import { listPatchFailures, listVendorActivity } from '../../storage/reports.js';
import type { Deps } from '../deps.js';
import type { Actor } from '../rbac/authorize.js';
import { reportScope } from './scope.js';
import type { Report } from './types.js';

const LIMIT = 200;

/**
 * Per package and source (vendor, repository): which cause the most pending updates, patches and
 * failed patch runs, and how long they take to patch. Ranked by patches plus failures.
 */
export async function vendorsReport(
  deps: Deps,
  actor: Actor,
  input: { project?: string; since: Date; until: Date },
): Promise<Report> {
  const scope = await reportScope(deps, actor, 'compliance:read', input.project);
  const window = { projectIds: scope.projectIds, since: input.since, until: input.until };
  const [rows, failures] = await Promise.all([
    listVendorActivity(deps.sql, { ...window, limit: LIMIT }),
    listPatchFailures(deps.sql, window),
  ]);
  const out = rows.map((r) => ({
    package: r.package,
    source: r.source,
    findings: r.findings,
    servers: r.servers,
    security: r.security,
    critical: r.critical,
    patched: r.patched,
    stillOpen: r.stillOpen,
    failures: failures.get(r.package) ?? 0,
    meanDaysToPatch: r.meanDaysToPatch === null ? null : Math.round(r.meanDaysToPatch * 10) / 10,
  }));
  out.sort((a, b) => b.patched + b.failures - (a.patched + a.failures) || b.findings - a.findings);
  const totalFailures = [...failures.values()].reduce((n, f) => n + f, 0);
  return {
    kind: 'vendors',
    title: 'Patches and failures by package and source',
    scope: scope.slugs,
    generatedAt: deps.clock.now(),
    period: { since: input.since, until: input.until },
    summary: [
      { label: 'Packages', value: String(out.length) },
      { label: 'Patched in period', value: String(out.reduce((n, r) => n + r.patched, 0)) },
      { label: 'Failed patch items', value: String(totalFailures) },
    ],
    columns: [
      { key: 'package', label: 'Package', width: 1.6 },
      { key: 'source', label: 'Source', width: 1.6 },
      { key: 'findings', label: 'Updates seen' },
      { key: 'servers', label: 'Servers' },
      { key: 'security', label: 'Security' },
      { key: 'critical', label: 'Critical' },
      { key: 'patched', label: 'Patched' },
      { key: 'stillOpen', label: 'Still pending' },
      { key: 'failures', label: 'Failed installs' },
      { key: 'meanDaysToPatch', label: 'Mean days to patch' },
    ],
    rows: out,
    notes: [
      `The ${LIMIT} packages with the most updates in the period; an update counts when it is pending now or was resolved in the period.`,
      'Failed installs: items of patch runs whose server failed or was rolled back.',
    ],
  };
}
