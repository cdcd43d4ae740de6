import { classifyTargetError } from '../../integrations/targets/errors.js';
import { type AppErrorOptions, IntegrationError } from '../../lib/errors.js';
import type { ScanErrorKind } from '../../storage/scans.js';

/** Every reason a scan of one server can fail, as stored in scans.error_kind. */
export const SCAN_ERROR_KINDS: readonly ScanErrorKind[] = [
  'unreachable',
  'auth-failed',
  'host-key-changed',
  'host-key-unknown',
  'timeout',
  'package-lock',
  'command-failed',
  'not-configured',
  'unsupported-os',
  'interrupted',
];

/** A failure Warden decides itself (no key stored, provider not configured), carrying its kind. */
export function scanFailure(
  kind: ScanErrorKind,
  message: string,
  options: AppErrorOptions = {},
): IntegrationError {
  return new IntegrationError('warden', message, { ...options, details: { ...options.details, kind } });
}

/** The kind of a scan failure: the one an error carries, else the target classifier's guess. */
export function scanErrorKind(error: unknown): ScanErrorKind {
  if (error instanceof IntegrationError) {
    const kind = error.details?.kind;
    if (typeof kind === 'string' && (SCAN_ERROR_KINDS as readonly string[]).includes(kind)) {
      return kind as ScanErrorKind;
    }
  }
  return classifyTargetError(error);
}

/** At most this much of a remote error is kept: enough to act on, never a whole output. */
export const MAX_ERROR_MESSAGE = 1_000;

/** One line-safe, bounded message; NUL bytes (which Postgres refuses) removed. */
export function boundedMessage(text: string, max = MAX_ERROR_MESSAGE): string {
  const clean = text.replaceAll('\u0000', '');
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/** What an error says to the person reading a scan report. */
export function messageOf(error: unknown): string {
  return boundedMessage(error instanceof Error ? error.message : String(error));
}
