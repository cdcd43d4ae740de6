import { describe, expect, it } from 'vitest';
import type { ExecResult } from '../../integrations/targets/types.js';
import { DEFAULT_LINUX_BASELINE } from './default-linux.js';
import { evaluateCheck } from './evaluate.js';
import { BaselineCheck } from './types.js';

function exec(stdout: string, exitCode: number | null = 0, extra: Partial<ExecResult> = {}): ExecResult {
  return {
    exitCode,
    signal: null,
    stdout,
    stderr: '',
    truncated: false,
    timedOut: false,
    durationMs: 5,
    ...extra,
  };
}

const rootLogin = DEFAULT_LINUX_BASELINE.checks.find((c) => c.id === 'ssh.root-login')!;
const firewall = DEFAULT_LINUX_BASELINE.checks.find((c) => c.id === 'firewall.active')!;

describe('evaluating a baseline check', () => {
  it('passes when the sshd line says no, and shows the line as evidence', () => {
    const r = evaluateCheck(rootLogin, exec('port 22\npermitrootlogin no\npasswordauthentication yes\n'));
    expect(r).toMatchObject({ status: 'pass', evidence: 'permitrootlogin no', exitCode: 0 });
  });

  it('fails on prohibit-password and quotes the line that says so', () => {
    const r = evaluateCheck(rootLogin, exec('permitrootlogin without-password\n'));
    expect(r.status).toBe('fail');
    expect(r.evidence).toContain('permitrootlogin without-password');
  });

  it('treats "could not tell" exit codes, timeouts, signals and unreachable targets as errors, never as failures', () => {
    expect(evaluateCheck(firewall, exec('cannot read the firewall rules (needs root)\n', 3))).toMatchObject({
      status: 'error',
      evidence: 'cannot read the firewall rules (needs root)',
    });
    expect(evaluateCheck(firewall, exec('', 127))).toMatchObject({ status: 'error' });
    expect(evaluateCheck(firewall, exec('', null, { timedOut: true })).evidence).toBe('the check timed out');
    expect(evaluateCheck(firewall, exec('', null, { signal: 'KILL' })).evidence).toBe('ended by signal KILL');
    expect(evaluateCheck(firewall, { error: 'connection refused' })).toMatchObject({
      status: 'error',
      evidence: 'connection refused',
      exitCode: null,
    });
  });

  it('applies stdoutNotMatches and an exit code together', () => {
    const check = BaselineCheck.parse({
      id: 'no-telnet',
      title: 'telnet is not installed',
      level: 1,
      argv: ['dpkg', '-l'],
      pass: { exitCode: 0, stdoutNotMatches: '^ii +telnet ' },
    });
    expect(evaluateCheck(check, exec('ii  bash 5.2\nii  telnet 0.17\n')).status).toBe('fail');
    expect(evaluateCheck(check, exec('ii  bash 5.2\n')).status).toBe('pass');
    expect(evaluateCheck(check, exec('ii  bash 5.2\n', 1)).status).toBe('fail');
  });

  it('refuses check data with a bad id, a bad pattern or a NUL in the argv', () => {
    const base = { id: 'x', title: 't', level: 1, argv: ['true'], pass: {} };
    expect(BaselineCheck.safeParse({ ...base, id: '; rm -rf /' }).success).toBe(false);
    expect(BaselineCheck.safeParse({ ...base, pass: { stdoutMatches: '(' } }).success).toBe(false);
    expect(BaselineCheck.safeParse({ ...base, argv: ['echo', 'a\0b'] }).success).toBe(false);
    expect(BaselineCheck.safeParse({ ...base, argv: [] }).success).toBe(false);
    expect(BaselineCheck.safeParse(base).success).toBe(true);
  });

  it('ships a default Linux baseline whose commands are fixed data pointing at the system sshd config', () => {
    expect(DEFAULT_LINUX_BASELINE.checks.map((c) => c.id)).toEqual([
      'ssh.root-login',
      'ssh.password-auth',
      'firewall.active',
      'updates.automatic-security',
      'audit.auditd',
    ]);
    expect(rootLogin.argv.at(-1)).toBe('/etc/ssh/sshd_config');
    for (const c of DEFAULT_LINUX_BASELINE.checks) expect(c.argv[0]).toBe('sh');
  });
});
