import { listComplianceRows } from '../../storage/reports.js';
import { evaluateCompliance, loadStandards } from '../compliance/evaluate.js';
import { fromStoredReasons, reasonText, shortAge } from '../compliance/rules.js';
import type { Deps } from '../deps.js';
import type { Actor } from '../rbac/authorize.js';
import { reportScope } from './scope.js';
import type { Report } from './types.js';

/**
 * Compliance per server: state, since when (and how long), every reason with its age, pending
 * security updates and how old the oldest is, when the server was last scanned. Evaluated now, so
 * a stale or missing scan shows as unknown, never as compliant.
 */
export async function complianceReport(
  deps: Deps,
  actor: Actor,
  input: { project?: string; since: Date; until: Date },
): Promise<Report> {
  const scope = await reportScope(deps, actor, 'compliance:read', input.project);
  if (scope.projectIds === null) await evaluateCompliance(deps);
  else for (const id of scope.projectIds) await evaluateCompliance(deps, { projectId: id });
  const now = deps.clock.now();
  const { byProject, fallback } = await loadStandards(deps.sql, now, scope.projectIds);
  const rows = await listComplianceRows(deps.sql, scope.projectIds);
  const age = (at: Date | null) => (at ? shortAge(Math.max(0, now.getTime() - at.getTime())) : '');
  const counts = { compliant: 0, 'non-compliant': 0, unknown: 0 };
  const out = rows.map((r) => {
    const std = (r.projectId !== null ? byProject.get(r.projectId)?.standards : undefined) ?? fallback;
    const state = r.state ?? 'unknown';
    counts[state] += 1;
    const reasons = r.state
      ? fromStoredReasons(r.reasons).map((x) => reasonText(x, std, now))
      : ['not evaluated yet'];
    return {
      server: r.server,
      project: r.project,
      account: r.account,
      provider: r.provider,
      region: r.region,
      owner: r.owner,
      state,
      since: r.since,
      inStateFor: age(r.since),
      reasons: reasons.join('; '),
      openSecurity: r.openSecurity,
      openCritical: r.openCritical,
      oldestSecurityAge: age(r.oldestSecurityAt),
      lastGoodScan: r.lastGoodScanAt,
      lastGoodScanAge: r.lastGoodScanAt ? age(r.lastGoodScanAt) : 'never',
      baselineFailing: (r.baselineFailing ?? []).join(' '),
    };
  });
  const total = rows.length;
  const pct = total ? `${Math.round((1000 * counts.compliant) / total) / 10}%` : 'n/a';
  return {
    kind: 'compliance',
    title: 'Compliance by server',
    scope: scope.slugs,
    generatedAt: now,
    period: { since: input.since, until: input.until },
    summary: [
      { label: 'Servers', value: String(total) },
      { label: 'Compliant', value: `${counts.compliant} (${pct})` },
      { label: 'Non-compliant', value: String(counts['non-compliant']) },
      { label: 'Unknown (stale or never scanned)', value: String(counts.unknown) },
    ],
    columns: [
      { key: 'server', label: 'Server', width: 1.4 },
      { key: 'project', label: 'Project' },
      { key: 'account', label: 'Account' },
      { key: 'provider', label: 'Provider', width: 0.9 },
      { key: 'region', label: 'Region' },
      { key: 'owner', label: 'Owner', width: 0.8 },
      { key: 'state', label: 'State', width: 1.4 },
      { key: 'since', label: 'In state since', width: 1.3 },
      { key: 'inStateFor', label: 'For', width: 0.5 },
      { key: 'reasons', label: 'Reasons', width: 3.4 },
      { key: 'openSecurity', label: 'Security', width: 0.8 },
      { key: 'openCritical', label: 'Critical', width: 0.8 },
      { key: 'oldestSecurityAge', label: 'Oldest', width: 0.7 },
      { key: 'lastGoodScan', label: 'Last good scan', width: 1.3 },
      { key: 'lastGoodScanAge', label: 'Scan age', width: 0.7 },
      { key: 'baselineFailing', label: 'Baseline failing', width: 1.3 },
    ],
    rows: out,
    notes: [
      'State as evaluated when the report was generated; ages are counted from then. Times are UTC.',
      'Security and Critical: updates pending now; Oldest: how long the oldest security update has waited.',
      'A server whose last good scan is older than the scan interval plus grace is unknown, never compliant.',
    ],
  };
}
