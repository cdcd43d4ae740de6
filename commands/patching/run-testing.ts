import { type Sql, withTx } from '../../storage/db.js';
import { insertPlan, insertPlanItems, type PlanItemInsert } from '../../storage/patching.js';
import type { Deps } from '../deps.js';
import { insertTestServer } from '../scanning/testing.js';
import { planHash } from './hash.js';
import { type PatchPolicyInput, parsePatchPolicy } from './policy.js';

/**
 * Test helpers for runs: a scheduled plan written straight into the tables (any items, hostile
 * ones included), a server behind a test sshd, and the simulated hosts of run-sim.ts.
 */
export * from './run-sim.js';

export interface TestPlanServer {
  serverId: number;
  ring: number;
  position?: number;
  osFamily?: string;
  packages: { package: string; from: string; to: string; arch?: string; rebootExpected?: boolean }[];
}

export interface TestPlanInput {
  projectId: number;
  createdBy?: number | null;
  policy?: PatchPolicyInput;
  servers: TestPlanServer[];
  at: Date;
  windowStart?: Date | null;
  windowEnd?: Date | null;
  cutoffAt?: Date | null;
}

/** A plan in status 'scheduled', with its hash, written straight into patch_plans and patch_plan_items. */
export async function insertScheduledPlan(sql: Sql, input: TestPlanInput): Promise<number> {
  const policy = parsePatchPolicy(input.policy ?? {});
  const items: PlanItemInsert[] = input.servers.flatMap((s, index) =>
    s.packages.map((p) => ({
      serverId: s.serverId,
      ring: s.ring,
      position: s.position ?? index,
      package: p.package,
      arch: p.arch ?? 'amd64',
      fromVersion: p.from,
      toVersion: p.to,
      classification: 'security',
      severity: 'unknown',
      cves: [],
      excluded: false,
      rebootExpected: p.rebootExpected ?? false,
      osFamily: s.osFamily ?? 'debian',
      firstSeenAt: input.at,
    })),
  );
  const hash = planHash(
    { projectId: input.projectId, kind: 'now', cve: null, policySnapshot: policy },
    items,
  );
  return withTx(sql, async (tx) => {
    const id = await insertPlan(tx, {
      projectId: input.projectId,
      status: 'scheduled',
      kind: 'now',
      cve: null,
      hash,
      createdBy: input.createdBy ?? null,
      createdRef: 'test',
      at: input.at,
      policySnapshot: policy,
      notes: {},
      skipExcluded: false,
    });
    await insertPlanItems(tx, id, items);
    await tx`update patch_plans set window_start = ${input.windowStart ?? input.at},
      window_end = ${input.windowEnd ?? null}, cutoff_at = ${input.cutoffAt ?? null}, approved_at = ${input.at},
      scheduled_at = ${input.at} where id = ${id}`;
    return id;
  });
}

/**
 * A server reached over SSH as `user` on a test sshd (test/sshd.ts): its key sealed in the vault as
 * `ssh-key:<name>`, its host key pinned. Returns the server id.
 */
export async function insertSshServer(
  sql: Sql,
  deps: Pick<Deps, 'vault'>,
  input: {
    name: string;
    projectId: number;
    sshd: { host: string; port: number; hostKeyFingerprint: string; clientKey: { privateKey: string } };
    user: string;
  },
): Promise<number> {
  const secret = `ssh-key:${input.name}`;
  await sql`
    insert into secrets (name, purpose, sealed)
    values (${secret}, 'ssh-service-key', ${deps.vault.seal(input.sshd.clientKey.privateKey, secret)})`;
  return insertTestServer(sql, {
    name: input.name,
    projectId: input.projectId,
    provider: 'ssh',
    address: input.sshd.host,
    port: input.sshd.port,
    connection: { user: input.user, hostKey: input.sshd.hostKeyFingerprint, trustOnFirstUse: false },
  });
}
