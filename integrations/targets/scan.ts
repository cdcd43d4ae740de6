import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import type { ExecFn } from './authorized-keys.js';
import type { ScanResult } from './types.js';

export interface ScanContext {
  /** The transport, prefixed to the method: `ssh`, `local`. */
  method: string;
  clock: Clock;
  timeoutMs?: number;
}

/** Scans a shell target through `exec` (wired to integrations/os once its scan script lands). */
export async function scanWithExec(_exec: ExecFn, _context: ScanContext): Promise<ScanResult> {
  throw new AppError('unavailable', 'Scanning is not wired yet.');
}
