import type { Clock } from '../../lib/clock.js';
import { combinedScanScript, parseCombinedScan } from '../os/index.js';
import type { ScanProblem } from '../os/types.js';
import type { ExecFn } from './authorized-keys.js';
import type { ScanResult } from './types.js';

export interface ScanContext {
  /** The transport, prefixed to the method: `ssh`, `local`. */
  method: string;
  clock: Clock;
  timeoutMs?: number;
}

// Each command in the script has its own 300 s `timeout`; this bounds the whole run.
const SCAN_TIMEOUT_MS = 15 * 60 * 1000;

/**
 * Scans a shell target in one exec: integrations/os's fixed `auto` script (it finds the package
 * manager itself) under `sh -c`, so the login shell does not matter, then its parser. A cut or
 * timed-out run still returns what was read, with problems saying what is missing; a target
 * that cannot be reached throws a classified error (see classifyTargetError).
 */
export async function scanWithExec(exec: ExecFn, context: ScanContext): Promise<ScanResult> {
  const result = await exec(['sh', '-c', combinedScanScript('auto'), 'warden-scan'], {
    timeoutMs: context.timeoutMs ?? SCAN_TIMEOUT_MS,
  });
  const parsed = parseCombinedScan(result.stdout);
  const problems: ScanProblem[] = [...parsed.problems];
  if (result.timedOut) {
    problems.push({
      kind: 'timed_out',
      severity: 'error',
      message: `The scan did not finish within ${Math.round((context.timeoutMs ?? SCAN_TIMEOUT_MS) / 1000)} s and was stopped; the findings may be incomplete. Try again, or look for a hung package manager.`,
      retryable: true,
    });
  }
  if (result.truncated) {
    problems.push({
      kind: 'truncated_output',
      severity: 'warning',
      message: 'The scan printed more than the output cap; the rest was dropped and findings may be missing.',
      retryable: false,
    });
  }
  return {
    os: parsed.os,
    findings: parsed.findings,
    rebootRequired: parsed.rebootRequired,
    problems,
    method: `${context.method}: ${parsed.method}`,
    scannedAt: context.clock.now(),
  };
}
