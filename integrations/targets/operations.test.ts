import { describe, expect, it } from 'vitest';
import { createFakeClock } from '../../lib/clock.js';
import { combinedScanScript } from '../os/index.js';
import type { ExecFn } from './authorized-keys.js';
import { installWithExec } from './install.js';
import { scanWithExec } from './scan.js';
import type { ExecOptions, ExecResult } from './types.js';

const done: ExecResult = {
  exitCode: 0,
  signal: null,
  stdout: '',
  stderr: '',
  truncated: false,
  timedOut: false,
  durationMs: 1,
};

/** A strict fake exec: answers the scripted calls in order and fails on anything else. */
function scripted(answers: { argv0: string; result: Partial<ExecResult> }[]) {
  const calls: { argv: readonly string[]; options: ExecOptions | undefined }[] = [];
  const exec: ExecFn = async (argv, options) => {
    calls.push({ argv, options });
    const next = answers.shift();
    if (!next || next.argv0 !== argv[0]) throw new Error(`unexpected command ${argv.join(' ')}`);
    return { ...done, ...next.result };
  };
  return { exec, calls };
}

const OS_RELEASE = 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n';

describe('scan over exec', () => {
  it('runs the combined script under sh -c in one exec and stamps the time from the clock', async () => {
    const clock = createFakeClock('2026-03-01T10:00:00Z');
    const { exec, calls } = scripted([{ argv0: 'sh', result: { stdout: 'no markers at all' } }]);
    const result = await scanWithExec(exec, { method: 'ssh', clock });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.argv.slice(0, 3)).toEqual(['sh', '-c', combinedScanScript('auto')]);
    expect(result.scannedAt).toEqual(new Date('2026-03-01T10:00:00Z'));
    expect(result.method).toMatch(/^ssh: /);
    // Unreadable output is a problem in the result, not an exception.
    expect(result.problems.map((problem) => problem.kind)).toContain('unknown_output');
  });

  it('adds a retryable problem when the scan timed out', async () => {
    const { exec } = scripted([{ argv0: 'sh', result: { exitCode: null, timedOut: true, stdout: '' } }]);
    const result = await scanWithExec(exec, { method: 'local', clock: createFakeClock(), timeoutMs: 1_000 });
    expect(result.problems).toContainEqual(expect.objectContaining({ kind: 'timed_out', retryable: true }));
  });

  it('lets an unreachable target fail the scan with its classified error', async () => {
    const exec: ExecFn = async () => {
      throw new Error('boom');
    };
    await expect(scanWithExec(exec, { method: 'ssh', clock: createFakeClock() })).rejects.toThrow('boom');
  });
});

describe('install over exec', () => {
  const items = [{ package: 'curl', version: '7.88.1-10+deb12u8' }];

  it('detects the family, then runs the pinned install through sudo with the C locale', async () => {
    const { exec, calls } = scripted([
      { argv0: 'cat', result: { stdout: OS_RELEASE } },
      { argv0: 'apt-get', result: {} },
    ]);
    const result = await installWithExec(exec, items, { sudo: true });
    expect(result.items).toEqual([{ package: 'curl', version: '7.88.1-10+deb12u8', status: 'installed' }]);
    expect(result.failure).toBeUndefined();
    expect(calls[1]!.argv).toContain('curl=7.88.1-10+deb12u8');
    expect(calls[1]!.options).toMatchObject({ sudo: true, env: expect.objectContaining({ LC_ALL: 'C' }) });
  });

  it('reports a held package lock as a failure to retry, with the output tail', async () => {
    const { exec } = scripted([
      {
        argv0: 'apt-get',
        result: {
          exitCode: 100,
          stderr: 'E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 1',
        },
      },
    ]);
    const result = await installWithExec(exec, items, { sudo: false, family: 'debian' });
    expect(result.failure).toBe('package-lock');
    expect(result.items[0]).toMatchObject({
      status: 'failed',
      detail: expect.stringContaining('Could not get lock'),
    });
  });

  it('refuses a hostile package name before running anything', async () => {
    const { exec, calls } = scripted([]);
    await expect(
      installWithExec(exec, [{ package: 'curl; rm -rf /', version: '1.0' }], {
        sudo: true,
        family: 'debian',
      }),
    ).rejects.toMatchObject({ code: 'bad_request' });
    expect(calls).toHaveLength(0);
  });

  it('refuses a machine whose package manager it does not drive', async () => {
    const { exec } = scripted([{ argv0: 'cat', result: { stdout: 'ID=plan9\n' } }]);
    await expect(installWithExec(exec, items, { sudo: true })).rejects.toMatchObject({ code: 'bad_request' });
  });
});
