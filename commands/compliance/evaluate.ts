import {
  type ComplianceStateWrite,
  compliancePlannerSettings,
  listComplianceFacts,
  lockComplianceEvaluation,
  type ProjectPolicies,
  saveComplianceStates,
} from '../../storage/compliance.js';
import { listProjectSettings, type ProjectSettingsRow } from '../../storage/compliance-digest.js';
import { type Queryable, withTx } from '../../storage/db.js';
import type { Deps } from '../deps.js';
import { type AlertCandidate, detectAlerts, sendAlerts } from './alerts.js';
import { enteredAt, evaluateServer, nextCheckAt, toStoredReasons } from './rules.js';
import { type ComplianceStandards, complianceStandards, standardsHash } from './standards.js';

/**
 * Evaluates every server (or one project's) against its project's standards, in one
 * transaction: one query returns the servers whose facts changed or whose next threshold came
 * due, the rules run on those in memory, and their rows are written back with the change-only
 * alerts they raise. `since` moves only when the state changes.
 */
export interface EvaluationSummary {
  /** Servers looked at: never evaluated, a fact changed, or a threshold due (see listComplianceFacts). */
  evaluated: number;
  /** State rows written. */
  changed: number;
  /** Change-only alerts sent. */
  alerts: number;
}

export interface ProjectStandards {
  project: ProjectSettingsRow;
  standards: ComplianceStandards;
}

/** The standards of every project (or of these), with the defaults for servers in no project. */
export async function loadStandards(
  sql: Queryable,
  now: Date,
  projectIds: readonly number[] | null = null,
): Promise<{ byProject: Map<number, ProjectStandards>; fallback: ComplianceStandards }> {
  const projects = await listProjectSettings(sql, projectIds);
  return {
    byProject: new Map(projects.map((p) => [p.id, { project: p, standards: complianceStandards(p, now) }])),
    fallback: complianceStandards(null, now),
  };
}

/** What the evaluation query needs of each project's standards. */
export function policiesOf(
  byProject: ReadonlyMap<number, ProjectStandards>,
  fallback: ComplianceStandards,
): ProjectPolicies {
  return {
    byProject: new Map(
      [...byProject].map(([id, p]) => [
        id,
        { rotateMs: p.standards.keyRotationMs, standardsHash: standardsHash(p.standards) },
      ]),
    ),
    fallback: { rotateMs: fallback.keyRotationMs, standardsHash: standardsHash(fallback) },
  };
}

/**
 * @example
 *   const summary = await evaluateCompliance(deps);                 // the whole fleet (the job)
 *   await evaluateCompliance(deps, { projectId: project.id });      // before a digest or a chat answer
 */
export async function evaluateCompliance(
  deps: Pick<Deps, 'sql' | 'clock' | 'chatPlatforms'>,
  options: { projectId?: number; actor?: string } = {},
): Promise<EvaluationSummary> {
  const now = deps.clock.now();
  const { byProject, fallback } = await loadStandards(
    deps.sql,
    now,
    options.projectId !== undefined ? [options.projectId] : null,
  );
  const standardsOf = (projectId: number | null) =>
    (projectId !== null ? byProject.get(projectId)?.standards : undefined) ?? fallback;

  return withTx(deps.sql, async (tx) => {
    await compliancePlannerSettings(tx);
    await lockComplianceEvaluation(tx);
    const policies = policiesOf(byProject, fallback);
    const facts = await listComplianceFacts(tx, { now, policies, projectId: options.projectId });
    const writes: ComplianceStateWrite[] = [];
    const alerts: AlertCandidate[] = [];
    for (const f of facts) {
      const std = standardsOf(f.projectId);
      const next = evaluateServer(f, std, now);
      const prev = f.prev;
      writes.push({
        serverId: f.serverId,
        projectId: f.projectId,
        state: next.state,
        since: prev && prev.state === next.state ? prev.since : enteredAt(prev, next, f, now),
        reasons: toStoredReasons(next.reasons),
        openSecurity: f.openSecurity,
        lastGoodScanId: f.lastGoodScanId,
        nextCheckAt: nextCheckAt(f, std, now),
        seen: {
          updateAt: f.lastUpdateAt,
          keyDueAt: f.keyDueAt,
          keyNextDueAt: f.keyNextDueAt,
          keysOverdue: f.keysOverdue,
          keyAuditAt: f.keyAuditAt,
          baselineAt: f.baselineCheckedAt,
        },
        standardsHash:
          f.projectId !== null
            ? (policies.byProject.get(f.projectId)?.standardsHash ?? policies.fallback.standardsHash)
            : policies.fallback.standardsHash,
      });
      alerts.push(...detectAlerts(f, next, std));
    }
    await saveComplianceStates(tx, writes, now);
    const sent = await sendAlerts(tx, deps, alerts, options.actor);
    return { evaluated: facts.length, changed: writes.length, alerts: sent };
  });
}
