import { describe, expect, it } from 'vitest';
import { AppError } from '../../lib/errors.js';
import {
  activeException,
  allowedFailures,
  DEFAULT_PATCH_POLICY,
  globMatch,
  isExcluded,
  parsePatchPolicy,
  policyHashParts,
  wantedByPolicy,
} from './policy.js';

function issuesOf(raw: unknown): string[] {
  try {
    parsePatchPolicy(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    const issues = (error as AppError).details?.issues as { path: string; message: string }[];
    return issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('the policy was accepted');
}

describe('the patch policy schema', () => {
  it('fills every field of an empty policy with the defaults: security updates, canary then rest', () => {
    expect(DEFAULT_PATCH_POLICY.classifications).toEqual(['security']);
    expect(DEFAULT_PATCH_POLICY.rings.map((r) => r.name)).toEqual(['canary', 'rest']);
    expect(DEFAULT_PATCH_POLICY.reboot).toEqual({ rule: 'if-required', when: 'immediately' });
    expect(DEFAULT_PATCH_POLICY.separateExclusionApprover).toBe(true);
    expect(DEFAULT_PATCH_POLICY.autoApproveAfterDays).toBeNull();
    expect(parsePatchPolicy(DEFAULT_PATCH_POLICY)).toEqual(DEFAULT_PATCH_POLICY);
  });

  it('accepts a full policy as the issue describes it', () => {
    const policy = parsePatchPolicy({
      classifications: ['security', 'bugfix'],
      minimumSeverity: 'important',
      autoApproveAfterDays: 7,
      exclusions: ['kernel*', 'linux-image-*'],
      exceptions: [
        {
          package: 'openssl',
          servers: ['db-*'],
          owner: 'carol',
          expiresAt: '2026-06-01T00:00:00Z',
          reason: 'vendor certification',
        },
      ],
      windows: [
        { cron: '0 2 * * 6', timezone: 'Europe/Paris', durationMinutes: 180, cutoffMinutes: 30 },
        { dates: ['2026-02-07T02:00:00+01:00'], durationMinutes: 60 },
        { every: '14d', start: '2026-01-03T02:00:00Z', durationMinutes: 120 },
      ],
      rings: [
        { name: 'canary', match: { tag: { stage: 'canary' } }, maxConcurrency: 1, errorThreshold: 0 },
        { name: 'first-ten', match: { count: 10 }, maxConcurrency: 5, errorThreshold: 1 },
        { name: 'rest', match: 'rest', maxConcurrency: 20, errorThreshold: '10%' },
      ],
      backups: { before: 'command', after: null, command: ['/usr/local/bin/backup', '--quick'] },
      reboot: { rule: 'always', when: 'end-of-window' },
      preCommands: [['systemctl', 'stop', 'app']],
      postCommands: [['systemctl', 'start', 'app']],
      checks: [
        {
          name: 'app is active',
          argv: ['systemctl', 'is-active', 'app'],
          expect: { stdoutIncludes: 'active' },
        },
      ],
      headsUpMinutes: 30,
    });
    expect(policy.checks[0]!.expect).toEqual({ exitCode: 0, stdoutIncludes: 'active' });
    expect(policy.windows[1]!.cutoffMinutes).toBe(0);
  });

  it('refuses typos, bad windows and ring orders with a message per problem', () => {
    expect(issuesOf({ classification: ['security'] })).toEqual([
      'classification: unknown field "classification"',
    ]);
    expect(issuesOf({ windows: [{ cron: 'every saturday', durationMinutes: 60 }] })).toEqual([
      'windows[0].cron: not a cron expression like "0 2 * * 6"',
    ]);
    expect(
      issuesOf({ windows: [{ cron: '0 2 * * 6', timezone: 'Mars/Olympus', durationMinutes: 60 }] })[0],
    ).toContain('unknown time zone');
    expect(
      issuesOf({ windows: [{ cron: '0 2 * * 6', durationMinutes: 60, cutoffMinutes: 60 }] })[0],
    ).toContain('cutoff must leave');
    expect(issuesOf({ windows: [{ cron: '0 2 * * 6', every: '7d', durationMinutes: 60 }] })[0]).toContain(
      'exactly one of cron, dates or every',
    );
    expect(issuesOf({ windows: [{ every: '7d', durationMinutes: 60 }] })[0]).toContain('needs a start');
    expect(
      issuesOf({
        rings: [
          { name: 'rest', match: 'rest' },
          { name: 'canary', match: { count: 1 } },
        ],
      })[0],
    ).toContain('"rest" ring must come last');
    expect(issuesOf({ rings: [{ name: 'a', match: 'rest', errorThreshold: '150%' }] })[0]).toContain(
      'rings[0].errorThreshold',
    );
    expect(issuesOf({ backups: { before: 'command' } })[0]).toContain('backups.command');
  });

  it('refuses hostile globs and control characters in commands', () => {
    expect(issuesOf({ exclusions: ['kernel; rm -rf /'] })[0]).toContain('exclusions[0]');
    expect(issuesOf({ exclusions: ['$(reboot)'] })[0]).toContain('exclusions[0]');
    expect(issuesOf({ postCommands: [['systemctl', 'start\napp']] })[0]).toContain('control characters');
    expect(issuesOf({ checks: [{ name: 'x', argv: ['true\u0000'] }] })[0]).toContain('control characters');
    expect(
      issuesOf({
        exceptions: [{ package: 'a', owner: 'Bob Smith', expiresAt: 'tomorrow', reason: 'why not' }],
      }),
    ).toHaveLength(2);
  });
});

describe('policy rules', () => {
  it('matches globs on the whole name with * and ? only', () => {
    expect(globMatch('linux-image-*', 'linux-image-6.1.0-18-amd64')).toBe(true);
    expect(globMatch('kernel', 'kernel-core')).toBe(false);
    expect(globMatch('lib?', 'libc')).toBe(true);
    expect(globMatch('a.b', 'axb')).toBe(false);
    expect(globMatch('c++*', 'c++lib')).toBe(true);
  });

  it('keeps updates of unknown severity (apt never says) unless told not to', () => {
    const policy = parsePatchPolicy({ minimumSeverity: 'important' });
    expect(wantedByPolicy(policy, { classification: 'security', severity: 'critical' })).toBe(true);
    expect(wantedByPolicy(policy, { classification: 'security', severity: 'moderate' })).toBe(false);
    expect(wantedByPolicy(policy, { classification: 'security', severity: 'unknown' })).toBe(true);
    expect(wantedByPolicy(policy, { classification: 'bugfix', severity: 'critical' })).toBe(false);
    const strict = parsePatchPolicy({ minimumSeverity: 'important', includeUnknownSeverity: false });
    expect(wantedByPolicy(strict, { classification: 'security', severity: 'unknown' })).toBe(false);
  });

  it('applies exceptions only to their servers and only until they expire', () => {
    const policy = parsePatchPolicy({
      exceptions: [
        {
          package: 'openssl*',
          servers: ['db-*'],
          owner: 'carol',
          expiresAt: '2026-02-01T00:00:00Z',
          reason: 'certification',
        },
      ],
      exclusions: ['kernel*'],
    });
    const before = new Date('2026-01-15T00:00:00Z');
    expect(activeException(policy, 'db-1', 'openssl', before)?.owner).toBe('carol');
    expect(activeException(policy, 'web-1', 'openssl', before)).toBeUndefined();
    expect(activeException(policy, 'db-1', 'openssl', new Date('2026-02-01T00:00:00Z'))).toBeUndefined();
    expect(isExcluded(policy, 'kernel-core')).toBe(true);
    expect(isExcluded(policy, 'openssl')).toBe(false);
  });

  it('turns an error threshold into the failures a ring tolerates', () => {
    expect(allowedFailures(0, 10)).toBe(0);
    expect(allowedFailures(3, 10)).toBe(3);
    expect(allowedFailures('10%', 25)).toBe(2);
    expect(allowedFailures('10%', 5)).toBe(0);
    expect(allowedFailures('100%', 7)).toBe(7);
  });

  it('leaves approval knobs out of the hashed policy parts and keeps what changes a run', () => {
    const a = policyHashParts(parsePatchPolicy({ headsUpMinutes: 10, autoApproveAfterDays: 3 }));
    const b = policyHashParts(parsePatchPolicy({ headsUpMinutes: 90 }));
    expect(a).toEqual(b);
    expect(policyHashParts(parsePatchPolicy({ reboot: { rule: 'always' } }))).not.toEqual(b);
  });
});
