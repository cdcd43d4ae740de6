import { describe, expect, it } from 'vitest';
import { parseApkList, parseApkVersion } from './apk.js';
import { parseAptList, parseAptSimulate } from './apt.js';
import { parseCheckUpdate, parseRpmInstalled, parseUpdateinfoList } from './dnf.js';
import { parseScan } from './scan.js';
import { bigText, ran, randomBytes } from './test-helpers.js';
import type { CommandOutput, ScanResult, ShellFamily } from './types.js';
import { parsePatchConflicts, parseZypperPatches, parseZypperUpdates } from './zypper.js';

// The command whose output carries the findings, per family.
const MAIN: Record<ShellFamily, string> = {
  debian: 'apt-simulate',
  rhel: 'check-update',
  suse: 'zypper-updates',
  alpine: 'apk-version',
};

const GARBAGE: Array<[string, string]> = [
  ['random bytes', randomBytes(256 * 1024).toString('latin1')],
  [
    'binary with NULs',
    Buffer.from([0, 1, 2, 0xff, 0xfe, 0, 0x1b, 0x5b, 0x33, 0x31, 0x6d, 10]).toString('latin1').repeat(5000),
  ],
  ['one 5 MB line', 'Inst '.padEnd(5 * 1024 * 1024, 'a[(')],
  ['HTML error page', '<html><body><h1>502 Bad Gateway</h1></body></html>\n'],
  ['shell error', 'sh: 1: apt-get: not found\n'],
];

function expectUsable(result: ScanResult) {
  expect(result.findings).toEqual([]);
  expect(result.problems.length).toBeGreaterThan(0);
  expect(result.problems.some((p) => p.severity === 'error')).toBe(true);
  for (const p of result.problems) {
    expect(p.message.length).toBeGreaterThan(20);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is that none get through.
    expect(p.message).not.toMatch(/[\u0000-\u0008\u000b-\u001f]/);
  }
}

describe('every family parser on hostile output', () => {
  it.each(
    Object.keys(MAIN) as ShellFamily[],
  )('%s: garbage and binary give problems, never exceptions', (family) => {
    for (const [, text] of GARBAGE) {
      for (const exitCode of [0, 1, 100, null]) {
        const outputs: Record<string, CommandOutput> = {
          [MAIN[family]]: ran(text, exitCode, text.slice(0, 1000)),
        };
        expectUsable(parseScan(family, outputs));
      }
    }
  });

  it.each(Object.keys(MAIN) as ShellFamily[])('%s: 10 MB of text is handled quickly', (family) => {
    const text = bigText(10);
    const started = performance.now();
    const result = parseScan(family, {
      [MAIN[family]]: ran(text, 0),
      updateinfo: ran(text),
      'rpm-installed': ran(text),
      'zypper-patches': ran(text),
      'zypper-patch-info': ran(text),
    });
    expect(result.findings).toEqual([]);
    expect(result.problems.length).toBeGreaterThan(0);
    // Generous bound: the point is linear time, not a benchmark.
    expect(performance.now() - started).toBeLessThan(20_000);
  });

  it.each(
    Object.keys(MAIN) as ShellFamily[],
  )('%s: empty output with a failing exit code is a problem', (family) => {
    expectUsable(parseScan(family, { [MAIN[family]]: ran('', 1) }));
    expect(parseScan(family, {}).problems.map((p) => p.kind)).toContain('missing_output');
  });

  it('low-level parsers return nothing for garbage', () => {
    for (const [, text] of GARBAGE) {
      expect(parseAptSimulate(ran(text)).findings).toEqual([]);
      expect(parseAptList(ran(text)).findings).toEqual([]);
      expect(parseCheckUpdate(ran(text)).entries).toEqual([]);
      expect(parseUpdateinfoList(text)).toEqual([]);
      expect(parseRpmInstalled(text).size).toBe(0);
      expect(parseZypperUpdates(text)).toEqual([]);
      expect(parseZypperPatches(text)).toEqual([]);
      expect(parsePatchConflicts(text).size).toBe(0);
      expect(parseApkVersion(ran(text)).findings).toEqual([]);
      expect(parseApkList(ran(text)).findings).toEqual([]);
    }
  });
});
