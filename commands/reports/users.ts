import { listUserActivity } from '../../storage/reports.js';
import { shortAge } from '../compliance/rules.js';
import type { Deps } from '../deps.js';
import type { Actor } from '../rbac/authorize.js';
import { reportScope } from './scope.js';
import type { Report } from './types.js';

/**
 * Per user: access requested, approved, denied, granted and used; approval decisions given and
 * how fast. It tells who can reach what, so it needs audit:read (not only compliance:read).
 */
export async function usersReport(
  deps: Deps,
  actor: Actor,
  input: { project?: string; since: Date; until: Date },
): Promise<Report> {
  const scope = await reportScope(deps, actor, 'audit:read', input.project);
  const rows = await listUserActivity(deps.sql, {
    projectIds: scope.projectIds,
    since: input.since,
    until: input.until,
  });
  const duration = (s: number | null) => (s === null ? '' : shortAge(s * 1000));
  const sum = (k: 'requested' | 'granted' | 'used' | 'decisionsGiven') => rows.reduce((n, r) => n + r[k], 0);
  return {
    kind: 'users',
    title: 'Access and approvals by user',
    scope: scope.slugs,
    generatedAt: deps.clock.now(),
    period: { since: input.since, until: input.until },
    summary: [
      { label: 'Access requested', value: String(sum('requested')) },
      { label: 'Grants', value: `${sum('granted')} (${sum('used')} used)` },
      { label: 'Approval decisions', value: String(sum('decisionsGiven')) },
    ],
    columns: [
      { key: 'user', label: 'User', width: 1.2 },
      { key: 'name', label: 'Name', width: 1.4 },
      { key: 'requested', label: 'Access requested' },
      { key: 'approved', label: 'Approved' },
      { key: 'denied', label: 'Denied' },
      { key: 'granted', label: 'Grants' },
      { key: 'used', label: 'Grants used' },
      { key: 'decisionsGiven', label: 'Decisions given' },
      { key: 'approvalsGiven', label: 'Approvals given' },
      { key: 'medianDecision', label: 'Median time to decide' },
      { key: 'meanDecision', label: 'Mean time to decide' },
      { key: 'medianDecisionSeconds', label: 'Median (s)' },
    ],
    rows: rows.map((r) => ({
      user: r.handle,
      name: r.displayName,
      requested: r.requested,
      approved: r.approved,
      denied: r.denied,
      granted: r.granted,
      used: r.used,
      decisionsGiven: r.decisionsGiven,
      approvalsGiven: r.approvalsGiven,
      medianDecision: duration(r.medianDecisionSeconds),
      meanDecision: duration(r.meanDecisionSeconds),
      medianDecisionSeconds: r.medianDecisionSeconds === null ? null : Math.round(r.medianDecisionSeconds),
    })),
    notes: [
      'A grant counts as used when its key was seen logging in while the grant ran.',
      'Time to decide runs from the approval request being opened to the decision.',
    ],
  };
}
