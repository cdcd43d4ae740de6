import { describe, expect, it } from 'vitest';
import { PatchWindow } from './policy.js';
import { addLocalDays, formatSlot, immediateWindow, nextWindow } from './windows.js';

const w = (raw: Record<string, unknown>) => PatchWindow.parse(raw);
const at = (iso: string) => new Date(iso);
const iso = (d: Date | undefined) => d?.toISOString();

describe('next window: cron with a time zone', () => {
  const saturday2am = w({
    cron: '0 2 * * 6',
    timezone: 'Europe/Paris',
    durationMinutes: 120,
    cutoffMinutes: 15,
  });

  it('finds the next Saturday 02:00 Paris time, in winter (UTC+1)', () => {
    const slot = nextWindow([saturday2am], at('2026-01-05T09:00:00Z'))!;
    expect(iso(slot.start)).toBe('2026-01-10T01:00:00.000Z');
    expect(iso(slot.end)).toBe('2026-01-10T03:00:00.000Z');
    expect(iso(slot.cutoffAt)).toBe('2026-01-10T02:45:00.000Z');
    expect(slot.timezone).toBe('Europe/Paris');
  });

  it('keeps 02:00 local after the clocks go forward (UTC+2 from 29 March 2026)', () => {
    expect(iso(nextWindow([saturday2am], at('2026-03-23T00:00:00Z'))!.start)).toBe(
      '2026-03-28T01:00:00.000Z',
    );
    expect(iso(nextWindow([saturday2am], at('2026-03-30T00:00:00Z'))!.start)).toBe(
      '2026-04-04T00:00:00.000Z',
    );
  });

  it('moves a daily 02:30 window that does not exist on the spring-forward night to 03:30 local', () => {
    const daily = w({ cron: '30 2 * * *', timezone: 'Europe/Paris', durationMinutes: 60 });
    expect(iso(nextWindow([daily], at('2026-03-28T12:00:00Z'))!.start)).toBe('2026-03-29T01:30:00.000Z');
  });

  it('opens once on the night the clocks go back, and the duration is elapsed time', () => {
    const daily = w({ cron: '30 2 * * *', timezone: 'Europe/Paris', durationMinutes: 90 });
    const slot = nextWindow([daily], at('2026-10-24T12:00:00Z'))!;
    expect(iso(slot.start)).toBe('2026-10-25T00:30:00.000Z');
    expect(slot.end.getTime() - slot.start.getTime()).toBe(90 * 60_000);
    const after = nextWindow([daily], new Date(slot.end.getTime() + 1))!;
    expect(iso(after.start)).toBe('2026-10-26T01:30:00.000Z');
  });

  it('counts a window already open while its cutoff is ahead, and skips it once the cutoff passed', () => {
    expect(iso(nextWindow([saturday2am], at('2026-01-10T02:30:00Z'))!.start)).toBe(
      '2026-01-10T01:00:00.000Z',
    );
    expect(iso(nextWindow([saturday2am], at('2026-01-10T02:45:00Z'))!.start)).toBe(
      '2026-01-17T01:00:00.000Z',
    );
    expect(iso(nextWindow([saturday2am], at('2026-01-10T02:30:00Z'), { includeCurrent: false })!.start)).toBe(
      '2026-01-17T01:00:00.000Z',
    );
  });

  it('takes a window that opens exactly now', () => {
    expect(iso(nextWindow([saturday2am], at('2026-01-10T01:00:00Z'), { includeCurrent: false })!.start)).toBe(
      '2026-01-10T01:00:00.000Z',
    );
  });
});

describe('next window: fixed dates and intervals', () => {
  it('walks fixed dates in time order, whatever order they are written in, and ends after the last', () => {
    const dates = w({
      dates: ['2026-03-07T22:00:00Z', '2026-02-07T02:00:00+01:00'],
      durationMinutes: 60,
      cutoffMinutes: 10,
    });
    expect(iso(nextWindow([dates], at('2026-01-01T00:00:00Z'))!.start)).toBe('2026-02-07T01:00:00.000Z');
    expect(iso(nextWindow([dates], at('2026-02-08T00:00:00Z'))!.start)).toBe('2026-03-07T22:00:00.000Z');
    expect(nextWindow([dates], at('2026-03-07T22:50:00Z'))).toBeUndefined();
  });

  it('repeats an interval from its start in elapsed time', () => {
    const every = w({ every: '14d', start: '2026-01-03T02:00:00Z', durationMinutes: 120 });
    expect(iso(nextWindow([every], at('2025-12-01T00:00:00Z'))!.start)).toBe('2026-01-03T02:00:00.000Z');
    expect(iso(nextWindow([every], at('2026-01-05T00:00:00Z'))!.start)).toBe('2026-01-17T02:00:00.000Z');
    expect(iso(nextWindow([every], at('2026-03-20T00:00:00Z'))!.start)).toBe('2026-03-28T02:00:00.000Z');
  });

  it('keeps the wall-clock time of a whole-day interval in its time zone across DST', () => {
    const every = w({
      every: '7d',
      start: '2026-03-21T03:00:00+01:00',
      timezone: 'Europe/Paris',
      durationMinutes: 60,
    });
    // 21 March is CET (02:00Z); 28 March still CET; 4 April CEST (01:00Z): 03:00 local each time.
    expect(iso(nextWindow([every], at('2026-03-22T00:00:00Z'))!.start)).toBe('2026-03-28T02:00:00.000Z');
    expect(iso(nextWindow([every], at('2026-03-29T00:00:00Z'))!.start)).toBe('2026-04-04T01:00:00.000Z');
    expect(iso(addLocalDays(at('2026-10-24T01:00:00Z'), 1, 'Europe/Paris'))).toBe('2026-10-25T02:00:00.000Z');
  });

  it('picks the earliest of several windows', () => {
    const windows = [
      w({ cron: '0 2 * * 6', timezone: 'UTC', durationMinutes: 60 }),
      w({ dates: ['2026-01-07T20:00:00Z'], durationMinutes: 60 }),
    ];
    const slot = nextWindow(windows, at('2026-01-05T00:00:00Z'))!;
    expect(iso(slot.start)).toBe('2026-01-07T20:00:00.000Z');
    expect(slot.index).toBe(1);
    expect(nextWindow([], at('2026-01-05T00:00:00Z'))).toBeUndefined();
  });
});

describe('immediate windows and how windows read', () => {
  it('opens the immediate window at once with the policy duration and cutoff', () => {
    const slot = immediateWindow(
      { immediateWindow: { durationMinutes: 90, cutoffMinutes: 30 } },
      at('2026-01-05T09:00:00Z'),
    );
    expect(iso(slot.start)).toBe('2026-01-05T09:00:00.000Z');
    expect(iso(slot.end)).toBe('2026-01-05T10:30:00.000Z');
    expect(iso(slot.cutoffAt)).toBe('2026-01-05T10:00:00.000Z');
  });

  it('shows a window in its own time zone with the cutoff', () => {
    const slot = nextWindow(
      [w({ cron: '0 2 * * 6', timezone: 'Europe/Paris', durationMinutes: 120, cutoffMinutes: 15 })],
      at('2026-01-05T09:00:00Z'),
    )!;
    expect(formatSlot(slot)).toBe('Sat 2026-01-10 02:00–04:00 Europe/Paris (cutoff 03:45)');
  });
});
