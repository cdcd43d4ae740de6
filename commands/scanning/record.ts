import type { ScanProblem } from '../../integrations/os/types.js';
import type { ScanResult } from '../../integrations/targets/types.js';
import { type Tx, withTx } from '../../storage/db.js';
import {
  aggregateOpenFindings,
  type FindingKey,
  lockOpenFindingKeys,
  resolveFindingsByKeys,
  resolveFindingsNotSeen,
  upsertOpenFindings,
} from '../../storage/findings.js';
import type { Server } from '../../storage/inventory.js';
import {
  addToDailyRollup,
  completeScanFailed,
  completeScanSucceeded,
  lockServerRow,
  lockServerScanState,
  type ScanCounts,
  type ScanErrorKind,
  saveFailedScanState,
  saveGoodScanState,
} from '../../storage/scans.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { boundedMessage } from './errors.js';
import { countBy, normalizeFindings } from './normalize.js';

/**
 * Writes one server's scan result in one transaction: the scan row, the findings diff (new rows
 * keep nothing, pending rows keep first_seen_at, vanished rows move to findings_resolved), the
 * server_scan_state summary and the day's rollup. A failed scan writes the scan row, the failure
 * on the summary and the rollup, and leaves every finding as it was.
 */

const keyOf = (k: FindingKey) => `${k.package}\u0000${k.arch}`;

// Two scans of one server at once would each resolve what the other just wrote: lock the server.
const lockServer = lockServerRow;

/** Findings problems that make the result unusable, turned into a scan failure kind. */
export function failureOfProblems(
  problems: readonly ScanProblem[],
): { kind: ScanErrorKind; message: string } | null {
  const errors = problems.filter((p) => p.severity === 'error');
  if (errors.length === 0) return null;
  const first = errors.find((p) => p.kind === 'lock_held') ?? errors[0]!;
  const kind: ScanErrorKind =
    first.kind === 'lock_held'
      ? 'package-lock'
      : first.kind === 'timed_out'
        ? 'timeout'
        : first.kind === 'unsupported_os'
          ? 'unsupported-os'
          : 'command-failed';
  const fix = first.fix ? ` Fix: ${first.fix}` : '';
  return { kind, message: boundedMessage(`${first.message}${fix}`) };
}

export async function recordScanSuccess(
  deps: Deps,
  server: Server,
  scanId: number,
  result: ScanResult,
): Promise<ScanCounts | undefined> {
  const findings = normalizeFindings(result.findings);
  return withTx(deps.sql, async (tx) => {
    if (!(await lockServer(tx, server.id))) return undefined;
    const at = deps.clock.now();
    const state = await lockServerScanState(tx, server.id);
    const firstScan = !state?.lastGoodScanId;
    const existing = new Map((await lockOpenFindingKeys(tx, server.id)).map((k) => [keyOf(k), k]));
    // A different installed version means the old update was applied: a new finding with a new age.
    const replaced = findings.filter((f) => {
      const before = existing.get(keyOf(f));
      return before !== undefined && before.installedVersion !== f.installedVersion;
    });
    const replacedSet = new Set(replaced);
    const fresh = findings.filter((f) => !existing.has(keyOf(f)) || replacedSet.has(f));
    const byReplace = await resolveFindingsByKeys(tx, server.id, replaced, { scanId, at });
    await upsertOpenFindings(tx, server.id, findings, { scanId, at });
    const byVanish = await resolveFindingsNotSeen(tx, server.id, { scanId, at });
    const open = await aggregateOpenFindings(tx, server.id);
    const counts: ScanCounts = {
      total: findings.length,
      security: open.security,
      critical: open.critical,
      new: fresh.length,
      newSecurity: fresh.filter((f) => f.classification === 'security').length,
      resolved: byReplace.total + byVanish.total,
      resolvedSecurity: byReplace.security + byVanish.security,
      firstScan,
      ...countBy(findings),
    };
    const os = { ...result.os };
    await completeScanSucceeded(tx, scanId, {
      at,
      method: boundedMessage(result.method, 200),
      os,
      rebootRequired: result.rebootRequired,
      counts,
      problems: result.problems.map(problemView),
    });
    await saveGoodScanState(tx, {
      serverId: server.id,
      scanId,
      at,
      open,
      rebootRequired: result.rebootRequired,
      os,
    });
    await addToDailyRollup(tx, {
      serverId: server.id,
      at,
      succeeded: true,
      opened: fresh.length,
      resolved: counts.resolved,
    });
    return counts;
  });
}

function problemView(p: ScanProblem): Record<string, unknown> {
  return {
    kind: p.kind,
    severity: p.severity,
    message: boundedMessage(p.message, 500),
    ...(p.fix ? { fix: boundedMessage(p.fix, 300) } : {}),
  };
}

export interface FailureInput {
  kind: ScanErrorKind;
  message: string;
  method?: string | null;
  problems?: readonly ScanProblem[];
  /** For host-key-changed: the fingerprints, for the alert. */
  details?: Record<string, unknown>;
}

/** A changed host key is refused by the target; here it is also raised as a security alert. */
async function alertHostKeyChanged(tx: Tx, deps: Deps, server: Server, failure: FailureInput): Promise<void> {
  const expected = typeof failure.details?.expected === 'string' ? failure.details.expected : null;
  const actual = typeof failure.details?.actual === 'string' ? failure.details.actual : null;
  await recordEvent(
    tx,
    deps,
    {
      actor: 'system',
      action: 'server.host-key-changed',
      subject: { type: 'server', id: server.name },
      projectId: server.projectId,
      data: { server: server.name, expected, actual, refused: true },
    },
    [
      {
        kind: 'channel-post',
        projectId: server.projectId,
        channelRole: 'security',
        reply: {
          visibility: 'public',
          tone: 'error',
          header: `Host key of ${server.name} changed: connection refused`,
          text:
            `Warden pinned ${expected ?? 'a key'} for ${server.name}, but the server presented ${actual ?? 'another key'}. ` +
            'Nothing was sent to it and the pin was kept. If the server was rebuilt, check the new fingerprint with its owner and update the pin; otherwise treat this as a possible interception.',
        },
      },
    ],
  );
}

export async function recordScanFailure(
  deps: Deps,
  server: Server,
  scanId: number,
  failure: FailureInput,
): Promise<void> {
  const message = boundedMessage(failure.message);
  await withTx(deps.sql, async (tx) => {
    if (!(await lockServer(tx, server.id))) return;
    const at = deps.clock.now();
    await completeScanFailed(tx, scanId, {
      at,
      kind: failure.kind,
      message,
      method: failure.method ?? null,
      problems: (failure.problems ?? []).map(problemView),
    });
    await saveFailedScanState(tx, { serverId: server.id, scanId, at, kind: failure.kind, message });
    await addToDailyRollup(tx, { serverId: server.id, at, succeeded: false, opened: 0, resolved: 0 });
    if (failure.kind === 'host-key-changed') await alertHostKeyChanged(tx, deps, server, failure);
  });
}
