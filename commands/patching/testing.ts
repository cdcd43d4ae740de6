import type { Finding, OsFamily } from '../../integrations/os/types.js';
import { withTx } from '../../storage/db.js';
import { upsertPolicy } from '../../storage/patching.js';
import { decide } from '../approvals/engine.js';
import { createApprovalSubjects } from '../approvals/subjects.js';
import { createActor, createProjectRow, uniqueHandle } from '../approvals/testing.js';
import type { Deps } from '../deps.js';
import type { Actor } from '../rbac/authorize.js';
import { runScanBatch } from '../scanning/run-scan.js';
import { createScanBatch } from '../scanning/scan.js';
import {
  createScriptedTargets,
  insertTestServer,
  type ScriptedTargets,
  scanResult,
} from '../scanning/testing.js';
import { buildPlan } from './build.js';
import { getPlan, getPlanItems, type PatchPlan, type PatchPlanItem } from './plans.js';
import { type PatchPolicy, type PatchPolicyInput, parsePatchPolicy } from './policy.js';
import { patchApprovalSubjects } from './subjects.js';

/**
 * Test helpers for plans and runs: a fleet whose findings come from a real scan batch against
 * scripted targets (so findings_open and server_scan_state are written the production way), a
 * stored policy, and an approved plan in one call.
 */
export interface TestServer {
  name: string;
  tags?: Record<string, string>;
  /** What the scan reports as pending. */
  findings: Finding[];
  /** The package family the scan reports (default debian). */
  family?: OsFamily;
  provider?: string;
  address?: string | null;
  port?: number | null;
  connection?: Record<string, unknown>;
}

/** Deps' approval subjects with patching's two (and the foundation's). */
export function patchApprovalSubjectMap(): ReturnType<typeof createApprovalSubjects> {
  return createApprovalSubjects([...patchApprovalSubjects]);
}

/** Store a policy for a project directly (no permission checks), returning it parsed. */
export async function setTestPolicy(
  deps: Deps,
  projectId: number,
  policy: PatchPolicyInput,
): Promise<PatchPolicy> {
  const parsed = parsePatchPolicy(policy);
  await upsertPolicy(deps.sql, { projectId, policy: parsed, at: deps.clock.now(), by: 'test' });
  return parsed;
}

/** Scan these servers now with scripted answers (their `findings`), through a real batch. */
export async function scanTestServers(
  deps: Deps,
  project: { id: number; slug: string },
  servers: readonly (TestServer & { id: number })[],
): Promise<ScriptedTargets> {
  const byName = new Map(servers.map((s) => [s.name, s]));
  const targets = createScriptedTargets((name) => {
    const s = byName.get(name);
    if (!s) return new Error(`no scripted answer for ${name}`);
    const family = s.family ?? 'debian';
    return scanResult(s.findings, {
      os: { family, id: family, versionId: '1', prettyName: `${family} test`, idLike: [] },
      scannedAt: deps.clock.now(),
    });
  });
  const batch = await withTx(deps.sql, (tx) =>
    createScanBatch(tx, deps, {
      kind: 'project',
      value: project.slug,
      projectId: project.id,
      servers: servers.map((s) => ({ id: s.id })),
      triggeredBy: 'api',
      requestedBy: null,
      requestedRef: 'job:test',
    }),
  );
  await runScanBatch(deps, batch.id, { targets });
  return targets;
}

export interface TestFleet {
  project: { id: number; slug: string };
  servers: Map<string, number>;
  planner: Actor;
  approver: Actor;
  /** Holds patch:approve-exclusion (an admin of the project). */
  exclusionApprover: Actor;
}

/** A project with servers (scanned once, now), a policy, and the people plans need. */
export async function createTestFleet(
  deps: Deps,
  input: { slug?: string; servers: readonly TestServer[]; policy?: PatchPolicyInput },
): Promise<TestFleet> {
  const project = await createProjectRow(deps.sql, input.slug ?? uniqueHandle('patch'));
  const servers = new Map<string, number>();
  const rows: (TestServer & { id: number })[] = [];
  for (const s of input.servers) {
    const id = await insertTestServer(deps.sql, {
      name: s.name,
      projectId: project.id,
      provider: s.provider ?? 'ssh',
      address: s.address ?? '127.0.0.1',
      port: s.port ?? 22,
      connection: s.connection ?? {},
    });
    if (s.tags) await deps.sql`update servers set tags = ${deps.sql.json(s.tags)} where id = ${id}`;
    servers.set(s.name, id);
    rows.push({ ...s, id });
  }
  if (input.policy) await setTestPolicy(deps, project.id, input.policy);
  if (rows.length) await scanTestServers(deps, project, rows);
  return {
    project,
    servers,
    planner: await createActor(deps.sql, uniqueHandle('planner'), [['patch-manager', project.id]]),
    approver: await createActor(deps.sql, uniqueHandle('approver'), [['approver', project.id]]),
    exclusionApprover: await createActor(deps.sql, uniqueHandle('xadmin'), [['admin', project.id]]),
  };
}

export interface ApprovedPlan extends TestFleet {
  plan: PatchPlan;
  items: PatchPlanItem[];
}

/**
 * A fleet and its plan, built and approved (exclusions too). With kind `now` (the default) the plan
 * is `scheduled` into a window that opens at the deps clock's now: ready for `patch-run`.
 * `deps.approvalSubjects` must include patching's (see patchApprovalSubjectMap).
 *
 * @example
 * const deps = createTestDeps(sql, { approvalSubjects: patchApprovalSubjectMap() });
 * const { plan } = await createApprovedPlan(deps, { servers: [{ name: 'web-1', findings: [finding('openssl')] }] });
 */
export async function createApprovedPlan(
  deps: Deps,
  input: {
    slug?: string;
    servers: readonly TestServer[];
    policy?: PatchPolicyInput;
    kind?: 'now' | 'scheduled';
  },
): Promise<ApprovedPlan> {
  if (!deps.approvalSubjects?.has('patch-plan')) {
    throw new Error('createApprovedPlan needs deps.approvalSubjects from patchApprovalSubjectMap()');
  }
  const fleet = await createTestFleet(deps, {
    ...input,
    policy: input.policy ?? { classifications: ['security', 'bugfix', 'enhancement', 'other'] },
  });
  const built = await buildPlan(deps, fleet.planner, {
    project: fleet.project.slug,
    kind: input.kind ?? 'now',
  });
  if (built.outcome !== 'created') throw new Error(`expected a new plan, got ${built.outcome}`);
  await decide(deps, {
    actor: fleet.approver,
    requestId: built.plan.approvalRequestId!,
    decision: 'approve',
  });
  if (built.plan.exclusionRequestId) {
    await decide(deps, {
      actor: fleet.exclusionApprover,
      requestId: built.plan.exclusionRequestId,
      decision: 'approve',
    });
  }
  const plan = (await getPlan(deps.sql, built.plan.id))!;
  return { ...fleet, plan, items: await getPlanItems(deps.sql, plan.id) };
}
