import type { CommandOutput, ScanProblem } from './types.js';

/**
 * Lines longer than this are never real package-manager output; skipping them keeps every regex
 * in the parsers linear on hostile input (one 10 MB line, binary data).
 */
export const MAX_LINE_LENGTH = 4096;

/** Splits output into lines (LF or CRLF) and says whether the last line was cut short. */
export function splitLines(text: string): { lines: string[]; cutShort: boolean } {
  if (text === '') return { lines: [], cutShort: false };
  const lines = text.split('\n');
  const cutShort = lines[lines.length - 1] !== '';
  if (!cutShort) lines.pop();
  return { lines: lines.map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line)), cutShort };
}

/** Lines that are short enough to parse; longer ones are dropped. */
export function usableLines(text: string): { lines: string[]; cutShort: boolean; dropped: number } {
  const { lines, cutShort } = splitLines(text);
  const kept = lines.filter((line) => line.length <= MAX_LINE_LENGTH);
  return { lines: kept, cutShort, dropped: lines.length - kept.length };
}

/** Replaces control characters (other than newline and tab) so untrusted text cannot mangle a message. */
export function printable(text: string): string {
  let out = '';
  for (const char of text) {
    const code = char.codePointAt(0)!;
    const control = (code < 0x20 && code !== 0x0a && code !== 0x09) || (code >= 0x7f && code <= 0x9f);
    out += control ? '?' : char;
  }
  return out;
}

/** Placeholders for lines `usableLines` dropped, so parsers count them as not following the format. */
export function overlongLines(dropped: number): string[] {
  return Array.from({ length: dropped }, () => `(a line longer than ${MAX_LINE_LENGTH} characters)`);
}

/** A short, printable excerpt of untrusted text for a problem message. */
export function excerpt(text: string, max = 160): string {
  const clean = printable(text.slice(0, 2_000)).trim();
  const firstLines = clean.split('\n').slice(0, 3).join(' | ');
  return firstLines.length > max ? `${firstLines.slice(0, max)}…` : firstLines;
}

export function uniqueSorted(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

export function problem(
  kind: ScanProblem['kind'],
  severity: ScanProblem['severity'],
  message: string,
  extra: Partial<Omit<ScanProblem, 'kind' | 'severity' | 'message'>> = {},
): ScanProblem {
  return { kind, severity, message, retryable: extra.retryable ?? false, ...extra };
}

/** The problem to report when a command printed nothing the parser recognises. */
export function unknownOutput(commandId: string, output: CommandOutput): ScanProblem {
  return problem(
    'unknown_output',
    'error',
    `The output of ${commandId} does not look like the package manager's documented format ` +
      `(starts with "${excerpt(output.stdout || output.stderr, 80)}"). ` +
      'Check that the server runs a supported OS and that nothing on the login path prints to stdout.',
    { commandId },
  );
}

export function truncatedOutput(commandId: string): ScanProblem {
  return problem(
    'truncated_output',
    'warning',
    `The output of ${commandId} ends in the middle of a line, so the last entry was ignored. ` +
      'Scan again; if it keeps happening, check the connection and the output size limit.',
    { commandId, retryable: true, retryAfterSeconds: 60 },
  );
}

export function missingOutput(commandId: string): ScanProblem {
  return problem(
    'missing_output',
    'error',
    `The scan did not return the output of ${commandId}. The connection may have dropped or the ` +
      'script was stopped; scan again.',
    { commandId, retryable: true, retryAfterSeconds: 60 },
  );
}

/** Wait before retry number `attempt` (1-based) after a lock was held; null when it is time to give up. */
export function lockRetryDelaySeconds(attempt: number): number | null {
  if (!Number.isInteger(attempt) || attempt < 1 || attempt > 5) return null;
  return Math.min(15 * 2 ** (attempt - 1), 240);
}
