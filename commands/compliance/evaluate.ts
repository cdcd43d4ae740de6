import {
  type ComplianceStateWrite,
  clearDirtyMarks,
  compliancePlannerSettings,
  listComplianceFacts,
  listStandardsSeen,
  lockComplianceEvaluation,
  type RotationPolicies,
  type StoredReason,
  saveComplianceStates,
  saveStandardsSeen,
} from '../../storage/compliance.js';
import { listProjectSettings, type ProjectSettingsRow } from '../../storage/compliance-digest.js';
import { type Queryable, withTx } from '../../storage/db.js';
import type { Deps } from '../deps.js';
import { type AlertCandidate, detectAlerts, sendAlerts } from './alerts.js';
import { enteredAt, evaluateServer, nextCheckAt, toStoredReasons } from './rules.js';
import { type ComplianceStandards, complianceStandards, standardsHash } from './standards.js';

/**
 * Evaluates the servers that need it against their project's standards, in one transaction: one
 * query returns the servers whose facts changed (marked by triggers in the writers' own
 * transactions), whose next threshold came due, or whose project's standards changed; the rules
 * run on those in memory; their rows are written back with the change-only alerts they raise.
 * Every other server's stored state is still exact: nothing about it changed, and no threshold
 * passed. `since` moves only when the state changes.
 */
export interface EvaluationSummary {
  /** Servers looked at (a fact changed, a threshold came due, the standards changed, or never evaluated). */
  evaluated: number;
  /** State rows whose state, reasons or observed counts changed. */
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
export function rotationOf(
  byProject: ReadonlyMap<number, ProjectStandards>,
  fallback: ComplianceStandards,
): RotationPolicies {
  return {
    byProject: new Map([...byProject].map(([id, p]) => [id, p.standards.keyRotationMs])),
    defaultMs: fallback.keyRotationMs,
  };
}

/** Projects (key 0: no project) whose standards differ from those their servers were evaluated against. */
function changedStandards(
  seen: ReadonlyMap<number, string>,
  byProject: ReadonlyMap<number, ProjectStandards>,
  fallback: ComplianceStandards,
  includeUnassigned: boolean,
): { key: number; hash: string }[] {
  const current = [...byProject].map(([id, p]) => ({ key: id, hash: standardsHash(p.standards) }));
  if (includeUnassigned) current.push({ key: 0, hash: standardsHash(fallback) });
  return current.filter((c) => seen.get(c.key) !== c.hash);
}

/** Reasons compared by what they say (code, onset, count), whatever the key order jsonb gave back. */
function sameReasons(a: readonly StoredReason[], b: readonly StoredReason[]): boolean {
  const key = (r: StoredReason) =>
    `${r.code}@${new Date(r.since).getTime()}#${r.count ?? ''}:${(r.items ?? []).join(',')}`;
  return a.length === b.length && a.every((r, i) => key(r) === key(b[i]!));
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

  const result = await withTx(deps.sql, async (tx) => {
    // Independent statements go out together (postgres.js pipelines them on the transaction).
    const [, , seen] = await Promise.all([
      compliancePlannerSettings(tx),
      lockComplianceEvaluation(tx),
      listStandardsSeen(tx),
    ]);
    const changedStd = changedStandards(seen, byProject, fallback, options.projectId === undefined);
    const facts = await listComplianceFacts(tx, {
      now,
      rotation: rotationOf(byProject, fallback),
      projectId: options.projectId,
      wholeProjects: changedStd.map((c) => (c.key === 0 ? null : c.key)),
    });
    const writes: ComplianceStateWrite[] = [];
    const alerts: AlertCandidate[] = [];
    let changed = 0;
    for (const f of facts) {
      const std = standardsOf(f.projectId);
      const next = evaluateServer(f, std, now);
      const prev = f.prev;
      const write: ComplianceStateWrite = {
        serverId: f.serverId,
        projectId: f.projectId,
        state: next.state,
        since: prev && prev.state === next.state ? prev.since : enteredAt(prev, next, f, now),
        reasons: toStoredReasons(next.reasons),
        openSecurity: f.openSecurity,
        lastGoodScanId: f.lastGoodScanId,
        nextCheckAt: nextCheckAt(f, std, now),
      };
      writes.push(write);
      const same =
        prev !== null &&
        prev.state === write.state &&
        prev.projectId === write.projectId &&
        prev.openSecurity === write.openSecurity &&
        prev.lastGoodScanId === write.lastGoodScanId &&
        sameReasons(prev.reasons, write.reasons);
      if (!same) changed += 1;
      alerts.push(...detectAlerts(f, next, std));
    }
    const [, , sent] = await Promise.all([
      saveComplianceStates(tx, writes, now),
      saveStandardsSeen(tx, changedStd),
      sendAlerts(tx, deps, alerts, options.actor),
    ]);
    return {
      summary: { evaluated: facts.length, changed, alerts: sent },
      consumed: facts
        .filter((f) => f.dirtySeq !== null)
        .map((f) => ({ serverId: f.serverId, seq: f.dirtySeq! })),
    };
  });
  await clearDirtyMarks(deps.sql, result.consumed);
  return result.summary;
}
