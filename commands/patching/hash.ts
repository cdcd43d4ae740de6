import { canonicalJson } from '../../lib/canonical-json.js';
import { sha256Hex } from '../../lib/crypto.js';
import type { PlanItemRow, PlanKind } from '../../storage/patching.js';
import { type PatchPolicy, policyHashParts } from './policy.js';

/**
 * The plan hash pins what approvers approve: sha256 over the canonical JSON of the project, kind,
 * CVE, the policy parts that decide the run (policyHashParts) and every item (server, ring, place,
 * package, arch, both versions, classification, severity, CVEs, excluded, reboot, OS family),
 * sorted so row order never matters. Times (window, first seen) are not in it: moving a plan to
 * another window changes when, not what.
 */
export interface PlanHashInput {
  projectId: number;
  kind: PlanKind;
  cve: string | null;
  policySnapshot: PatchPolicy;
}

export type PlanHashItem = Pick<
  PlanItemRow,
  | 'serverId'
  | 'ring'
  | 'position'
  | 'package'
  | 'arch'
  | 'fromVersion'
  | 'toVersion'
  | 'classification'
  | 'severity'
  | 'cves'
  | 'excluded'
  | 'rebootExpected'
  | 'osFamily'
>;

function itemKey(i: PlanHashItem): string {
  return `${String(i.serverId).padStart(20, '0')}\u0000${i.package}\u0000${i.arch}`;
}

/**
 * @example
 * const plan = await getPlan(sql, id);
 * if (planHash(plan, await getPlanItems(sql, id)) !== plan.hash) refuse();
 */
export function planHash(plan: PlanHashInput, items: readonly PlanHashItem[]): string {
  const sorted = [...items].sort((a, b) => (itemKey(a) < itemKey(b) ? -1 : itemKey(a) > itemKey(b) ? 1 : 0));
  return sha256Hex(
    canonicalJson({
      v: 1,
      projectId: plan.projectId,
      kind: plan.kind,
      cve: plan.cve,
      policy: policyHashParts(plan.policySnapshot),
      items: sorted.map((i) => ({
        serverId: i.serverId,
        ring: i.ring,
        position: i.position,
        package: i.package,
        arch: i.arch,
        fromVersion: i.fromVersion,
        toVersion: i.toVersion,
        classification: i.classification,
        severity: i.severity,
        cves: [...i.cves].sort(),
        excluded: i.excluded,
        rebootExpected: i.rebootExpected,
        osFamily: i.osFamily,
      })),
    }),
  );
}
