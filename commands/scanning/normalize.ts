import type { Finding } from '../../integrations/os/types.js';
import type { Classification, FindingWrite, Severity } from '../../storage/findings.js';

/**
 * Findings come from a remote machine: whatever it printed is data, never trusted. Here each one
 * is bounded (lengths, list sizes), stripped of NUL bytes (Postgres refuses them), checked
 * against the known classifications and severities, and one row is kept per package and
 * architecture (the primary key) by merging duplicates.
 */
const CLASSIFICATIONS: readonly Classification[] = ['security', 'bugfix', 'enhancement', 'other'];
const SEVERITIES: readonly Severity[] = ['critical', 'important', 'moderate', 'low', 'unknown'];
const CVE = /^CVE-\d{4}-\d{4,9}$/;

const MAX_NAME = 256;
const MAX_VERSION = 256;
const MAX_ARCH = 64;
const MAX_SOURCE = 256;
const MAX_LIST = 200;
const MAX_ADVISORY = 128;

function clean(value: unknown, max: number): string {
  if (typeof value !== 'string') return '';
  const text = value.replaceAll('\u0000', '');
  return text.length > max ? text.slice(0, max) : text;
}

function rank<T>(list: readonly T[], value: T): number {
  const i = list.indexOf(value);
  return i < 0 ? list.length : i;
}

function list(values: unknown, keep: (s: string) => boolean, max: number): string[] {
  if (!Array.isArray(values)) return [];
  const out = new Set<string>();
  for (const v of values) {
    const s = clean(v, max);
    if (s && keep(s)) out.add(s);
    if (out.size >= MAX_LIST) break;
  }
  return [...out].sort();
}

function one(f: Finding): FindingWrite | undefined {
  const pkg = clean(f.package, MAX_NAME);
  if (!pkg) return undefined;
  const classification = (CLASSIFICATIONS as readonly string[]).includes(f.classification)
    ? f.classification
    : 'other';
  const severity = (SEVERITIES as readonly string[]).includes(f.severity) ? f.severity : 'unknown';
  return {
    package: pkg,
    arch: clean(f.arch, MAX_ARCH),
    installedVersion: clean(f.installedVersion, MAX_VERSION),
    candidateVersion: clean(f.candidateVersion, MAX_VERSION),
    classification,
    severity,
    cves: list(f.cves, (s) => CVE.test(s), 32),
    advisories: list(f.advisories, () => true, MAX_ADVISORY),
    source: clean(f.source, MAX_SOURCE) || null,
    rebootRequired: f.rebootRequired === true,
  };
}

/** The most urgent reading of two reports of the same package wins; CVEs and advisories merge. */
function merge(a: FindingWrite, b: FindingWrite): FindingWrite {
  const urgent = rank(CLASSIFICATIONS, b.classification) < rank(CLASSIFICATIONS, a.classification) ? b : a;
  return {
    ...urgent,
    severity: rank(SEVERITIES, b.severity) < rank(SEVERITIES, a.severity) ? b.severity : a.severity,
    cves: [...new Set([...a.cves, ...b.cves])].sort().slice(0, MAX_LIST),
    advisories: [...new Set([...a.advisories, ...b.advisories])].sort().slice(0, MAX_LIST),
    rebootRequired: a.rebootRequired || b.rebootRequired,
  };
}

/** Scan findings as rows for findings_open: bounded, validated, one per (package, arch). */
export function normalizeFindings(findings: readonly Finding[]): FindingWrite[] {
  const byKey = new Map<string, FindingWrite>();
  for (const f of findings) {
    const row = one(f);
    if (!row) continue;
    const key = `${row.package}\u0000${row.arch}`;
    const seen = byKey.get(key);
    byKey.set(key, seen ? merge(seen, row) : row);
  }
  return [...byKey.values()];
}

/** Counts of a finding list by classification and severity. */
export function countBy(findings: readonly FindingWrite[]): {
  byClassification: Record<string, number>;
  bySeverity: Record<string, number>;
} {
  const byClassification: Record<string, number> = {};
  const bySeverity: Record<string, number> = {};
  for (const f of findings) {
    byClassification[f.classification] = (byClassification[f.classification] ?? 0) + 1;
    bySeverity[f.severity] = (bySeverity[f.severity] ?? 0) + 1;
  }
  return { byClassification, bySeverity };
}

export { CLASSIFICATIONS, SEVERITIES };
