import { type AppErrorOptions, IntegrationError } from '../../lib/errors.js';
import type { ExecResult, TargetErrorKind } from './types.js';

/** An IntegrationError that carries its `kind` in `details`, so the classifier need not guess. */
export function targetError(
  integration: string,
  kind: TargetErrorKind,
  message: string,
  options: AppErrorOptions = {},
): IntegrationError {
  return new IntegrationError(integration, message, {
    ...options,
    details: { ...options.details, kind },
  });
}

const KINDS: readonly TargetErrorKind[] = [
  'unreachable',
  'auth-failed',
  'host-key-changed',
  'host-key-unknown',
  'timeout',
  'package-lock',
  'command-failed',
];

// What apt/dpkg, dnf/yum, zypper and apk print when another process holds the package lock.
const PACKAGE_LOCK = [
  /could not get lock/i,
  /unable to acquire the dpkg frontend lock/i,
  /waiting for cache lock/i,
  /dpkg was interrupted/i,
  /existing lock \/var\/run\/(yum|dnf)\.pid/i,
  /waiting for process with pid/i,
  /system management is locked/i,
  /unable to lock database/i,
  /unable to obtain lock/i,
];

export function isPackageLockMessage(text: string): boolean {
  return PACKAGE_LOCK.some((pattern) => pattern.test(text));
}

function codeOf(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/**
 * Sorts a failure into the few kinds a scan report shows. Errors made by `targetError` carry
 * their kind; others (raw socket and ssh2 errors) are recognised by code or message.
 */
export function classifyTargetError(error: unknown): TargetErrorKind {
  if (error instanceof IntegrationError) {
    const kind = error.details?.kind;
    if (typeof kind === 'string' && (KINDS as readonly string[]).includes(kind))
      return kind as TargetErrorKind;
  }
  const code = codeOf(error);
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ETIMEDOUT' || /timed out|timeout/i.test(message)) return 'timeout';
  if (
    code !== undefined &&
    ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EPIPE'].includes(
      code,
    )
  ) {
    return 'unreachable';
  }
  if (/authentication methods failed|permission denied|auth/i.test(message)) return 'auth-failed';
  if (/host key|host denied/i.test(message)) return 'host-key-changed';
  if (isPackageLockMessage(message)) return 'package-lock';
  if (/connect|closed|not connected|socket/i.test(message)) return 'unreachable';
  return 'command-failed';
}

/** The failure kind of a finished command, or null when it succeeded. */
export function classifyExecResult(result: ExecResult): TargetErrorKind | null {
  if (result.timedOut) return 'timeout';
  if (result.exitCode === 0) return null;
  if (isPackageLockMessage(result.stderr) || isPackageLockMessage(result.stdout)) return 'package-lock';
  return 'command-failed';
}
