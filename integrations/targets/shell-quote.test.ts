import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { hostileArguments } from './contract.js';
import { commandArgv, quoteArg, quoteArgv } from './shell-quote.js';

/** What a POSIX shell makes of a command line: the words it passes to the program. */
function wordsAfterShell(commandLine: string): string[] {
  const out = execFileSync('sh', ['-c', `printf '%s\\0' ${commandLine}`]);
  return out.toString('utf8').split('\0').slice(0, -1);
}

describe('shell quoting', () => {
  it('makes the shell rebuild exactly the same argv from hostile arguments', () => {
    const hostile = hostileArguments('/tmp/warden-quote-test');
    expect(wordsAfterShell(quoteArgv(hostile))).toEqual(hostile);
  });

  it('quotes every argument, even plain ones', () => {
    expect(quoteArgv(['ls', '-l', "it's"])).toBe(`'ls' '-l' 'it'\\''s'`);
    expect(quoteArg('')).toBe("''");
  });

  it('refuses a NUL byte and an empty argv', () => {
    expect(() => quoteArg('a\0b')).toThrow(/NUL/);
    expect(() => quoteArgv([])).toThrow(/program name/);
  });

  it('prefixes sudo -n and env, ending their options with --', () => {
    expect(commandArgv(['apt-get', 'install'], { sudo: true, env: { LC_ALL: 'C' } })).toEqual([
      'sudo',
      '-n',
      '--',
      'env',
      '--',
      'LC_ALL=C',
      'apt-get',
      'install',
    ]);
    expect(quoteArgv(commandArgv(['id'], { sudo: true }))).toBe(`'sudo' '-n' '--' 'id'`);
  });

  it('refuses variable names and program names that sudo or env would misread', () => {
    expect(() => commandArgv(['id'], { env: { 'A B': '1' } })).toThrow(/environment variable/);
    expect(() => commandArgv(['id'], { env: { '$(x)': '1' } })).toThrow(/environment variable/);
    expect(() => commandArgv(['A=1'], { sudo: true })).toThrow(/"="/);
    expect(commandArgv(['A=1'])).toEqual(['A=1']);
  });
});
