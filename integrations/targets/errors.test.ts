import { describe, expect, it } from 'vitest';
import { classifyExecResult, classifyTargetError, targetError } from './errors.js';
import type { ExecResult } from './types.js';

const ok: ExecResult = {
  exitCode: 0,
  signal: null,
  stdout: '',
  stderr: '',
  truncated: false,
  timedOut: false,
  durationMs: 1,
};

describe('target error classification', () => {
  it('trusts the kind carried by a target error', () => {
    expect(classifyTargetError(targetError('ssh', 'host-key-changed', 'changed'))).toBe('host-key-changed');
    expect(classifyTargetError(targetError('ssh', 'package-lock', 'locked'))).toBe('package-lock');
  });

  it('recognises raw socket and ssh2 errors', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:22'), { code: 'ECONNREFUSED' });
    expect(classifyTargetError(refused)).toBe('unreachable');
    expect(classifyTargetError(new Error('Timed out while waiting for handshake'))).toBe('timeout');
    expect(classifyTargetError(new Error('All configured authentication methods failed'))).toBe(
      'auth-failed',
    );
    expect(classifyTargetError(new Error('something else'))).toBe('command-failed');
    expect(classifyTargetError('not even an error')).toBe('command-failed');
  });

  it('sorts finished commands into success, timeout, package lock and failure', () => {
    expect(classifyExecResult(ok)).toBeNull();
    expect(classifyExecResult({ ...ok, exitCode: null, timedOut: true })).toBe('timeout');
    expect(
      classifyExecResult({
        ...ok,
        exitCode: 100,
        stderr: 'E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 9761 (apt-get)',
      }),
    ).toBe('package-lock');
    expect(
      classifyExecResult({
        ...ok,
        exitCode: 1,
        stderr: 'System management is locked by the application with pid 1',
      }),
    ).toBe('package-lock');
    expect(classifyExecResult({ ...ok, exitCode: 2, stderr: 'E: Unable to locate package nope' })).toBe(
      'command-failed',
    );
  });
});
