import { describe, expect, it } from 'vitest';
import { createScanLimiter } from './limiter.js';
import { normalizeFindings } from './normalize.js';
import { checkScanSettings, scanIsDue, scanSchedule, stalenessOf } from './settings.js';

const DAY = 86_400_000;
const at = new Date('2026-01-07T12:00:00Z');

describe('scan schedule settings', () => {
  it('defaults to every 7 days, stale after 8', () => {
    expect(scanSchedule({ settings: {} }, at)).toEqual({
      enabled: true,
      everyMs: 7 * DAY,
      cron: null,
      timezone: 'UTC',
      staleAfterMs: 8 * DAY,
    });
  });

  it('reads a cron with a time zone, is due once per occurrence, and derives staleness from its period', () => {
    const schedule = scanSchedule(
      { settings: { scan: { cron: '0 3 * * 1', timezone: 'Europe/Paris' } } },
      at,
    );
    expect(schedule).toMatchObject({ cron: '0 3 * * 1', everyMs: null, staleAfterMs: 8 * DAY });
    // Monday 5 January 2026, 03:00 in Paris is 02:00 UTC.
    expect(scanIsDue(schedule, new Date('2026-01-05T01:59:00Z'), at)).toBe(true);
    expect(scanIsDue(schedule, new Date('2026-01-05T02:00:00Z'), at)).toBe(false);
    expect(scanIsDue(schedule, undefined, at)).toBe(true);
  });

  it('falls back knob by knob on garbage, and reports it when settings are checked', () => {
    const schedule = scanSchedule(
      { settings: { scan: { cron: '$(rm -rf /)', timezone: 'Mars/Base', staleAfter: 'soon' } } },
      at,
    );
    expect(schedule).toMatchObject({ everyMs: 7 * DAY, timezone: 'UTC', staleAfterMs: 8 * DAY });
    expect(
      checkScanSettings({ cron: '$(rm -rf /)', timezone: 'Mars/Base', staleAfter: 'soon', extra: 1 }),
    ).toHaveLength(1);
    expect(checkScanSettings({ cron: '$(rm -rf /)', timezone: 'Mars/Base', staleAfter: 'soon' })).toEqual([
      'scan.timezone: unknown time zone Mars/Base',
      'scan.cron: not a cron expression (like "0 3 * * 1") or an interval (like 7d)',
      'scan.staleAfter: write it like 8d',
    ]);
    expect(scanIsDue(scanSchedule({ settings: { scan: { enabled: false } } }, at), undefined, at)).toBe(
      false,
    );
  });

  it('marks a missing or too old result stale, as a function of now', () => {
    const schedule = scanSchedule(null, at);
    expect(stalenessOf(null, schedule, at)).toEqual({ ageMs: null, stale: true, staleAfterMs: 8 * DAY });
    expect(stalenessOf(new Date(at.getTime() - 8 * DAY), schedule, at).stale).toBe(false);
    expect(stalenessOf(new Date(at.getTime() - 8 * DAY - 1), schedule, at).stale).toBe(true);
  });
});

describe('scan limiter', () => {
  it('never runs more than the global and per-provider caps, and serves every waiter', async () => {
    const limiter = createScanLimiter({ global: 3, perProvider: { local: 1 } });
    let peak = 0;
    let peakLocal = 0;
    const releases: (() => void)[] = [];
    const runs = ['ssh', 'local', 'ssh', 'local', 'ssh', 'ssh', 'local'].map((provider) =>
      limiter.run(
        provider,
        () =>
          new Promise<string>((resolve) => {
            const stats = limiter.stats();
            peak = Math.max(peak, stats.running);
            peakLocal = Math.max(peakLocal, stats.byProvider.local ?? 0);
            releases.push(() => resolve(provider));
          }),
      ),
    );
    while (releases.length > 0 || limiter.stats().running > 0) {
      await new Promise((resolve) => setImmediate(resolve));
      releases.shift()?.();
    }
    expect(await Promise.all(runs)).toHaveLength(7);
    expect(peak).toBe(3);
    expect(peakLocal).toBe(1);
  });
});

describe('finding normalisation', () => {
  it('bounds what a remote machine printed and keeps only real CVE ids', () => {
    const [row] = normalizeFindings([
      {
        package: 'x'.repeat(1000),
        installedVersion: '1\u0000.0',
        candidateVersion: '2',
        classification: 'weird' as 'other',
        severity: 'catastrophic' as 'low',
        cves: ['CVE-2024-1234', 'CVE-1; rm -rf /', 'CVE-2024-1234'],
      },
    ]);
    expect(row).toMatchObject({
      arch: '',
      installedVersion: '1.0',
      classification: 'other',
      severity: 'unknown',
      cves: ['CVE-2024-1234'],
      source: null,
    });
    expect(row!.package).toHaveLength(256);
    expect(
      normalizeFindings([
        {
          package: '',
          installedVersion: '',
          candidateVersion: '',
          classification: 'other',
          severity: 'low',
          cves: [],
        },
      ]),
    ).toEqual([]);
  });
});
