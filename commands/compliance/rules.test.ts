import { describe, expect, it } from 'vitest';
import type { ServerComplianceFacts } from '../../storage/compliance.js';
import { addDays, dayBounds, localInstant, localMoment } from './local-time.js';
import { trendFrom } from './rollup.js';
import { enteredAt, evaluateServer, nextCheckAt, reasonText } from './rules.js';
import { checkComplianceSettings, complianceStandards, standardsHash } from './standards.js';

const NOW = new Date('2026-03-10T10:00:00Z');
const DAY = 86_400_000;
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const std = complianceStandards({ slug: 'prod', settings: {} }, NOW);

function facts(overrides: Partial<ServerComplianceFacts> = {}): ServerComplianceFacts {
  return {
    serverId: 1,
    serverName: 'web-01',
    projectId: 1,
    createdAt: ago(30 * DAY),
    lastGoodScanAt: ago(DAY),
    lastGoodScanId: 10,
    openTotal: 0,
    openSecurity: 0,
    oldestUrgentAt: null,
    lastUpdateAt: null,
    keyDueAt: null,
    keyNextDueAt: null,
    keysOverdue: 0,
    unknownKeys: null,
    keyAuditAt: null,
    baselineFailing: null,
    baselineCheckedAt: null,
    dirtySeq: null,
    prev: null,
    ...overrides,
  };
}

describe('the compliance rules', () => {
  it('never calls a server with a stale or missing scan compliant', () => {
    expect(evaluateServer(facts({ lastGoodScanAt: null, lastGoodScanId: null }), std, NOW)).toMatchObject({
      state: 'unknown',
      reasons: [{ code: 'never-scanned' }],
    });
    const stale = evaluateServer(facts({ lastGoodScanAt: ago(9 * DAY) }), std, NOW);
    expect(stale).toMatchObject({ state: 'unknown', reasons: [{ code: 'scan-stale', since: ago(DAY) }] });
  });

  it('still calls a stale server non-compliant when a fact that needs no scan is bad', () => {
    const e = evaluateServer(
      facts({ lastGoodScanAt: ago(9 * DAY), unknownKeys: 2, keyAuditAt: ago(3600_000) }),
      std,
      NOW,
    );
    expect(e.state).toBe('non-compliant');
    expect(e.reasons.map((r) => r.code)).toEqual(['scan-stale', 'unknown-keys']);
    expect(e.onset).toEqual(ago(3600_000));
  });

  it('allows security updates up to the standard and not a millisecond more', () => {
    const at7d = facts({ openSecurity: 1, openTotal: 1, oldestUrgentAt: ago(7 * DAY) });
    expect(evaluateServer(at7d, std, NOW).state).toBe('compliant');
    const later = new Date(NOW.getTime() + 1);
    expect(evaluateServer(at7d, std, later)).toMatchObject({
      state: 'non-compliant',
      reasons: [{ code: 'security-overdue', since: NOW, count: 1 }],
    });
    expect(nextCheckAt(at7d, std, NOW)).toEqual(later);
  });

  it('flags "not updated in 90 days" only while updates are pending', () => {
    const old = { lastUpdateAt: ago(120 * DAY) };
    expect(evaluateServer(facts(old), std, NOW).state).toBe('compliant');
    expect(evaluateServer(facts({ ...old, openTotal: 3 }), std, NOW)).toMatchObject({
      state: 'non-compliant',
      reasons: [{ code: 'update-overdue', since: ago(30 * DAY), count: 3 }],
    });
  });

  it('dates a state change between what was last seen and now', () => {
    const next = evaluateServer(
      facts({ openSecurity: 1, openTotal: 1, oldestUrgentAt: ago(9 * DAY) }),
      std,
      NOW,
    );
    // Crossed 2 days ago, and the previous state began before that: the crossing time stands.
    expect(enteredAt({ state: 'compliant', since: ago(20 * DAY) }, next, facts(), NOW)).toEqual(ago(2 * DAY));
    // It cannot have begun before the previous state did.
    expect(enteredAt({ state: 'compliant', since: ago(DAY) }, next, facts(), NOW)).toEqual(ago(DAY));
    // After an unknown spell, not before the scan that ended it.
    expect(
      enteredAt(
        { state: 'unknown', since: ago(20 * DAY) },
        next,
        facts({ lastGoodScanAt: ago(3600_000) }),
        NOW,
      ),
    ).toEqual(ago(3600_000));
    // Becoming compliant is dated now: what fixed it may have no time of its own.
    const ok = evaluateServer(facts(), std, NOW);
    expect(enteredAt({ state: 'non-compliant', since: ago(5 * DAY) }, ok, facts(), NOW)).toEqual(NOW);
  });

  it('puts reasons in words, with ages worked out at read time', () => {
    const r = { code: 'security-overdue' as const, since: ago(3 * DAY), count: 2 };
    expect(reasonText(r, std, NOW)).toBe('2 security updates pending past the 7-day standard (overdue 3d)');
    expect(reasonText(r, std, new Date(NOW.getTime() + 2 * DAY))).toMatch(/overdue 5d\)$/);
  });
});

describe('compliance standards', () => {
  it('reads each knob on its own and falls back to the default on a typo', () => {
    const s = complianceStandards(
      {
        settings: {
          compliance: {
            securityPatchDays: 3,
            updateAlertDays: 'ninety',
            scanGraceHours: 12,
            digest: { time: '25:00' },
          },
          scan: { every: '1d', timezone: 'Europe/Paris' },
          keys: { rotateEvery: '12h' },
        },
      },
      NOW,
    );
    expect(s).toMatchObject({
      securityPatchDays: 3,
      updateAlertDays: 90,
      staleAfterMs: DAY + 12 * 3600_000,
      keyRotationMs: 12 * 3600_000,
      requireNoUnknownKeys: true,
      digest: { enabled: true, time: '09:00', timezone: 'Europe/Paris' },
    });
    expect(standardsHash(s)).not.toBe(standardsHash(std));
  });

  it('reports every malformed setting to the person editing it', () => {
    expect(
      checkComplianceSettings({
        securityPatchDays: 0,
        digest: { time: '9am', timezone: 'Mars/Olympus' },
        color: 'red',
      }),
    ).toEqual([
      'compliance.securityPatchDays: Too small: expected number to be >=1',
      'compliance.digest.time: write the time like 09:00 (24-hour)',
      'compliance: Unrecognized key: "color"',
    ]);
    expect(checkComplianceSettings({ digest: { timezone: 'Mars/Olympus' } })).toEqual([
      'compliance.digest.timezone: unknown time zone Mars/Olympus',
    ]);
    expect(
      checkComplianceSettings({ securityPatchDays: 14, digest: { time: '07:30', timezone: 'Asia/Tokyo' } }),
    ).toEqual([]);
  });
});

describe('local days', () => {
  it('finds local midnight across a daylight-saving change', () => {
    // Paris moves to summer time on 2026-03-29: that day lasts 23 hours.
    const { start, end } = dayBounds('2026-03-29', 'Europe/Paris');
    expect(start.toISOString()).toBe('2026-03-28T23:00:00.000Z');
    expect(end.toISOString()).toBe('2026-03-29T22:00:00.000Z');
    expect(localInstant('2026-07-01', 9 * 60, 'America/New_York').toISOString()).toBe(
      '2026-07-01T13:00:00.000Z',
    );
    expect(localMoment(new Date('2026-03-09T23:30:00Z'), 'Europe/Paris')).toEqual({
      day: '2026-03-10',
      minutes: 30,
    });
    expect(addDays('2026-03-01', -1)).toBe('2026-02-28');
  });

  it('carries the state over a day without a rollup, but never the time to patch', () => {
    const row = (day: string, compliant: number, mttp: number | null) => ({
      day,
      servers: 4,
      compliant,
      nonCompliant: 4 - compliant,
      unknown: 0,
      pendingSecurity: 7,
      securityResolved: mttp === null ? 0 : 1,
      mttpSeconds: mttp,
    });
    const points = trendFrom([row('2026-03-06', 1, null), row('2026-03-08', 2, 86_400)], '2026-03-09', 3);
    expect(points).toEqual([
      { day: '2026-03-07', compliancePct: 25, pendingSecurity: 7, mttpDays: null },
      { day: '2026-03-08', compliancePct: 50, pendingSecurity: 7, mttpDays: 1 },
      { day: '2026-03-09', compliancePct: 50, pendingSecurity: 7, mttpDays: null },
    ]);
  });
});
