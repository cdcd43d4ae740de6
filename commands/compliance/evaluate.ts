import { canonicalJson } from '../../lib/canonical-json.js';
import {
  type ComplianceState,
  type ComplianceStateWrite,
  compliancePlannerSettings,
  listComplianceFacts,
  lockComplianceEvaluation,
  type RotationPolicies,
  type ServerComplianceFacts,
  saveComplianceStates,
} from '../../storage/compliance.js';
import { listProjectSettings, type ProjectSettingsRow } from '../../storage/compliance-digest.js';
import { type Queryable, withTx } from '../../storage/db.js';
import type { Deps } from '../deps.js';
import { type AlertCandidate, detectAlerts, sendAlerts } from './alerts.js';
import { enteredAt, evaluateServer, toStoredReasons } from './rules.js';
import { type ComplianceStandards, complianceStandards } from './standards.js';

/**
 * Evaluates every server (or one project's) against its project's standards, in one
 * transaction: one query reads the facts, the rules run in memory, and only the rows whose
 * state, reasons or observed counts changed are written back, with the change-only alerts they
 * raise. `since` moves only when the state changes.
 */
export interface EvaluationSummary {
  evaluated: number;
  changed: number;
  alerts: number;
  counts: Record<ComplianceState, number>;
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

function rotationOf(byProject: ReadonlyMap<number, ProjectStandards>, fallback: ComplianceStandards): RotationPolicies {
  return {
    byProject: new Map([...byProject].map(([id, p]) => [id, p.standards.keyRotationMs])),
    defaultMs: fallback.keyRotationMs,
  };
}

function sameStored(f: ServerComplianceFacts, next: ComplianceStateWrite): boolean {
  const prev = f.prev;
  return (
    prev !== null &&
    prev.state === next.state &&
    prev.projectId === next.projectId &&
    prev.openSecurity === next.openSecurity &&
    prev.lastGoodScanId === next.lastGoodScanId &&
    canonicalJson(prev.reasons) === canonicalJson(next.reasons)
  );
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
    const facts = await listComplianceFacts(tx, {
      now,
      rotation: rotationOf(byProject, fallback),
      projectId: options.projectId,
    });
    const counts: Record<ComplianceState, number> = { compliant: 0, 'non-compliant': 0, unknown: 0 };
    const writes: ComplianceStateWrite[] = [];
    const alerts: AlertCandidate[] = [];
    for (const f of facts) {
      const std = standardsOf(f.projectId);
      const next = evaluateServer(f, std, now);
      counts[next.state] += 1;
      const prev = f.prev;
      const since =
        prev && prev.state === next.state ? prev.since : enteredAt(prev, next, f, now);
      const write: ComplianceStateWrite = {
        serverId: f.serverId,
        projectId: f.projectId,
        state: next.state,
        since,
        reasons: toStoredReasons(next.reasons),
        openSecurity: f.openSecurity,
        lastGoodScanId: f.lastGoodScanId,
      };
      if (sameStored(f, write)) continue;
      writes.push(write);
      alerts.push(...detectAlerts(f, next, std));
    }
    await saveComplianceStates(tx, writes, now);
    const sent = await sendAlerts(tx, deps, alerts, options.actor);
    return { evaluated: facts.length, changed: writes.length, alerts: sent, counts };
  });
}
