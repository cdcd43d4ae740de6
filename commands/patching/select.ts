import { validatePins } from '../../integrations/os/install.js';
import { isShellFamily } from '../../integrations/os/plan.js';
import type { Queryable } from '../../storage/db.js';
import type { PlanItemInsert, PlanKind, PlanNotes } from '../../storage/patching.js';
import { type CandidateFinding, listCandidateFindings } from '../../storage/patching-work.js';
import { activeException, isExcluded, type PatchPolicy, type Ring, wantedByPolicy } from './policy.js';

/**
 * Which findings become plan items: the policy's classifications and severity (or, for a CVE
 * plan, the findings that fix the CVE), minus active exceptions, with excluded packages marked
 * (or held back with --skip-excluded), every name and version checked by the package manager's
 * rules before it can reach an argv, and each server placed in a ring. Pure but for the loader.
 */
export interface SelectionInput {
  policy: PatchPolicy;
  findings: readonly CandidateFinding[];
  kind: PlanKind;
  cve: string | null;
  skipExcluded: boolean;
  now: Date;
}

export interface Selection {
  items: PlanItemInsert[];
  notes: Required<Pick<PlanNotes, 'notPlanned' | 'skipped' | 'heldBack' | 'refused'>>;
}

/** At most this many packages per server in one plan (one install command); the rest wait for the next. */
export const MAX_ITEMS_PER_SERVER = 1000;

// Windows KBs and cloud patch names (SSM, Azure) follow these; fnmatch and shell characters never do.
const CLOUD_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;
const CLOUD_VERSION = /^[A-Za-z0-9][A-Za-z0-9._+:~^-]*$/;

function osFamilyOf(os: Record<string, unknown> | null): string {
  const family = os?.family;
  return typeof family === 'string' && family ? family : 'unknown';
}

/** Why a finding may not enter a plan, or null when both versions are valid pins for its family. */
export function refusalOf(
  family: string,
  f: Pick<CandidateFinding, 'package' | 'arch' | 'installedVersion' | 'candidateVersion'>,
): string | null {
  if (isShellFamily(family)) {
    try {
      const arch = f.arch || undefined;
      validatePins(family, [{ package: f.package, version: f.candidateVersion, ...(arch ? { arch } : {}) }]);
      validatePins(family, [{ package: f.package, version: f.installedVersion, ...(arch ? { arch } : {}) }]);
      return null;
    } catch (error) {
      return (error as Error).message.replace(/ Nothing was installed; fix the plan and try again\.$/, '');
    }
  }
  const ok =
    f.package.length <= 128 &&
    CLOUD_NAME.test(f.package) &&
    f.candidateVersion.length <= 128 &&
    CLOUD_VERSION.test(f.candidateVersion) &&
    (f.installedVersion === '' || CLOUD_VERSION.test(f.installedVersion)) &&
    (f.arch === '' || CLOUD_NAME.test(f.arch));
  return ok ? null : 'not a package name and version Warden can send to a patch service';
}

/** Printable, short: scan output is shown to people, never echoed raw. */
function shown(text: string): string {
  const safe = text.slice(0, 80).replace(/[^\x20-\x7e]/g, '?');
  return text.length > 80 ? `${safe}…` : safe;
}

interface ServerFacts {
  id: number;
  name: string;
  tags: Record<string, string>;
}

function tagsMatch(wanted: Record<string, string>, tags: Record<string, string>): boolean {
  return Object.entries(wanted).every(([k, v]) => tags[k] === v);
}

/**
 * Ring by ring, in the policy's order: a tag ring takes every server left that carries all its
 * tags, a count ring the next n left (by name), `rest` all that is left. Servers no ring takes are
 * returned apart. Positions count from 0 by name within each ring.
 */
export function assignRings(
  rings: readonly Ring[],
  servers: readonly ServerFacts[],
): { placed: Map<number, { ring: number; position: number }>; unplaced: ServerFacts[] } {
  let left = [...servers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const placed = new Map<number, { ring: number; position: number }>();
  rings.forEach((ring, index) => {
    let taken: ServerFacts[];
    if (ring.match === 'rest') taken = left;
    else if ('count' in ring.match) taken = left.slice(0, ring.match.count);
    else {
      const wanted = ring.match.tag;
      taken = left.filter((s) => tagsMatch(wanted, s.tags));
    }
    const ids = new Set(taken.map((s) => s.id));
    taken.forEach((s, position) => {
      placed.set(s.id, { ring: index, position });
    });
    left = left.filter((s) => !ids.has(s.id));
  });
  return { placed, unplaced: left };
}

export function selectPlanItems(input: SelectionInput): Selection {
  const { policy, now } = input;
  const notes: Selection['notes'] = { notPlanned: [], skipped: [], heldBack: [], refused: [] };
  const chosen = new Map<number, { facts: ServerFacts; items: PlanItemInsert[] }>();
  for (const f of input.findings) {
    const wanted = input.kind === 'cve' ? f.cves.includes(input.cve ?? '') : wantedByPolicy(policy, f);
    if (!wanted) continue;
    const exception = activeException(policy, f.serverName, f.package, now);
    if (exception) {
      notes.skipped.push({
        server: f.serverName,
        package: shown(f.package),
        owner: exception.owner,
        expiresAt: exception.expiresAt,
        reason: exception.reason,
      });
      continue;
    }
    const family = osFamilyOf(f.os);
    const refusal = refusalOf(family, f);
    if (refusal) {
      notes.refused.push({ server: f.serverName, package: shown(f.package), reason: refusal });
      continue;
    }
    const excluded = isExcluded(policy, f.package);
    if (excluded && input.skipExcluded) {
      notes.heldBack.push({ server: f.serverName, package: f.package });
      continue;
    }
    const entry = chosen.get(f.serverId) ?? {
      facts: { id: f.serverId, name: f.serverName, tags: f.tags ?? {} },
      items: [],
    };
    chosen.set(f.serverId, entry);
    if (entry.items.length >= MAX_ITEMS_PER_SERVER) continue;
    entry.items.push({
      serverId: f.serverId,
      ring: 0,
      position: 0,
      package: f.package,
      arch: f.arch,
      fromVersion: f.installedVersion,
      toVersion: f.candidateVersion,
      classification: f.classification,
      severity: f.severity,
      cves: [...f.cves].sort(),
      excluded,
      rebootExpected: f.rebootRequired,
      osFamily: family,
      firstSeenAt: f.firstSeenAt,
    });
  }
  const { placed, unplaced } = assignRings(
    policy.rings,
    [...chosen.values()].map((c) => c.facts),
  );
  for (const s of unplaced)
    notes.notPlanned.push({ server: s.name, reason: 'no ring of the policy takes it' });
  const items: PlanItemInsert[] = [];
  for (const { facts, items: mine } of chosen.values()) {
    const at = placed.get(facts.id);
    if (!at) continue;
    for (const item of mine) items.push({ ...item, ring: at.ring, position: at.position });
  }
  return { items, notes };
}

/** The selection for these servers from what is pending on them now (no rescan: callers decide). */
export async function selectFromDatabase(
  sql: Queryable,
  input: Omit<SelectionInput, 'findings'> & { serverIds: readonly number[] },
): Promise<Selection> {
  const findings = await listCandidateFindings(
    sql,
    input.serverIds,
    input.kind === 'cve' ? (input.cve ?? '') : undefined,
  );
  return selectPlanItems({ ...input, findings });
}
