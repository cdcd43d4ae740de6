import { AppError } from '../../lib/errors.js';

/** Default cap on each of stdout and stderr: a package list is far smaller, a runaway loop is not. */
export const DEFAULT_MAX_OUTPUT_BYTES = 8 * 1024 * 1024;

/** Default command timeout: long enough for a package upgrade, short enough to notice a hang. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 10 * 60 * 1000;

export interface OutputCollector {
  push(chunk: Buffer): void;
  /** True once more than the cap arrived; the excess was dropped, not kept. */
  readonly truncated: boolean;
  text(): string;
}

/**
 * Keeps at most `maxBytes` of a stream. Memory stays bounded whatever the command prints: bytes
 * past the cap are counted and dropped as they arrive. The stream is still read to its end so that
 * the command is not blocked on a full pipe and its exit status still arrives.
 */
export function createOutputCollector(maxBytes: number): OutputCollector {
  const chunks: Buffer[] = [];
  let kept = 0;
  let truncated = false;
  return {
    push(chunk) {
      if (kept >= maxBytes) {
        if (chunk.length > 0) truncated = true;
        return;
      }
      const room = maxBytes - kept;
      if (chunk.length > room) {
        chunks.push(Buffer.from(chunk.subarray(0, room)));
        kept = maxBytes;
        truncated = true;
        return;
      }
      // Copy: some streams reuse their buffers.
      chunks.push(Buffer.from(chunk));
      kept += chunk.length;
    },
    get truncated() {
      return truncated;
    },
    text() {
      return Buffer.concat(chunks, kept).toString('utf8');
    },
  };
}

/** A caller's cap, checked: a positive whole number of bytes; the default when not given. */
export function outputCap(
  requested: number | undefined,
  fallback: number = DEFAULT_MAX_OUTPUT_BYTES,
): number {
  if (requested === undefined) return fallback;
  if (!Number.isSafeInteger(requested) || requested <= 0) {
    throw new AppError(
      'bad_request',
      `maxOutputBytes must be a positive whole number of bytes, not ${requested}.`,
    );
  }
  return requested;
}

/** A caller's timeout, checked: a positive number of milliseconds; the default when not given. */
export function commandTimeout(requested: number | undefined, fallback: number): number {
  if (requested === undefined) return fallback;
  // setTimeout fires at once for NaN or negatives and overflows past 2^31-1 ms (about 24 days).
  if (!Number.isFinite(requested) || requested <= 0 || requested > 2_147_483_647) {
    throw new AppError(
      'bad_request',
      `timeoutMs must be a positive number of milliseconds, not ${requested}.`,
    );
  }
  return requested;
}
