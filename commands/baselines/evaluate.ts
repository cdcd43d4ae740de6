import type { ExecResult } from '../../integrations/targets/types.js';
import type { BaselineCheck, CheckResult } from './types.js';

/**
 * Turning a check's command output into pass, fail or error. Pure: the tests feed it results
 * and the runner feeds it what the target returned.
 */
const DEFAULT_UNKNOWN_EXIT_CODES = [126, 127];
const EVIDENCE_MAX = 300;

function clip(text: string): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > EVIDENCE_MAX ? `${one.slice(0, EVIDENCE_MAX - 1)}…` : one;
}

function firstLine(text: string): string {
  return text.split('\n').find((l) => l.trim() !== '') ?? '';
}

/** What the command said, for the person reading the result. */
function said(exec: ExecResult): string {
  return clip(firstLine(exec.stdout) || firstLine(exec.stderr));
}

export type CheckExec = ExecResult | { error: string };

export function evaluateCheck(check: BaselineCheck, exec: CheckExec): CheckResult {
  const base = { checkId: check.id, title: check.title, level: check.level };
  if ('error' in exec) return { ...base, status: 'error', evidence: clip(exec.error), exitCode: null };
  if (exec.timedOut) {
    return { ...base, status: 'error', evidence: 'the check timed out', exitCode: exec.exitCode };
  }
  if (exec.exitCode === null) {
    return { ...base, status: 'error', evidence: `ended by signal ${exec.signal ?? '?'}`, exitCode: null };
  }
  const unknown = check.unknownExitCodes ?? DEFAULT_UNKNOWN_EXIT_CODES;
  if (unknown.includes(exec.exitCode)) {
    return {
      ...base,
      status: 'error',
      evidence: said(exec) || `could not tell (exit ${exec.exitCode})`,
      exitCode: exec.exitCode,
    };
  }
  const rule = check.pass;
  const failures: string[] = [];
  const wantExit = rule.exitCode ?? (rule.stdoutMatches || rule.stdoutNotMatches ? undefined : 0);
  if (wantExit !== undefined && exec.exitCode !== wantExit) failures.push(`exit ${exec.exitCode}`);
  let evidence = '';
  if (rule.stdoutMatches) {
    const match = new RegExp(rule.stdoutMatches, 'm').exec(exec.stdout);
    if (match) evidence = clip(match[0]);
    else failures.push(`no line matches /${rule.stdoutMatches}/`);
  }
  if (rule.stdoutNotMatches) {
    const match = new RegExp(rule.stdoutNotMatches, 'm').exec(exec.stdout);
    if (match) failures.push(`found "${clip(match[0])}"`);
  }
  if (failures.length === 0) {
    return { ...base, status: 'pass', evidence: evidence || said(exec), exitCode: exec.exitCode };
  }
  // For a failed pattern check, what the line really says is the useful evidence.
  const relevant = rule.stdoutMatches ? relevantLine(exec.stdout, rule.stdoutMatches) : '';
  const detail = relevant || said(exec);
  return {
    ...base,
    status: 'fail',
    evidence: clip(detail ? `${detail} (${failures.join('; ')})` : failures.join('; ')),
    exitCode: exec.exitCode,
  };
}

/** The line carrying the keyword the pattern looks for (`permitrootlogin yes`), if any. */
function relevantLine(stdout: string, pattern: string): string {
  const keyword = /^\^?([a-z][a-z0-9_-]+)/i.exec(pattern)?.[1];
  if (!keyword) return '';
  const line = stdout.split('\n').find((l) => l.toLowerCase().startsWith(`${keyword.toLowerCase()} `));
  return line ? clip(line) : '';
}
