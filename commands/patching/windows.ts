import { CronExpressionParser } from 'cron-parser';
import { parseDuration } from '../grammar.js';
import type { PatchPolicy, PatchWindow } from './policy.js';

/**
 * Maintenance windows as moments: given a policy's windows and a time, which window comes next.
 * Pure functions of their arguments (no clock), so DST and cutoff rules are tested directly.
 *
 * A window is usable while its cutoff is ahead: `cutoffAt = end − cutoffMinutes`, and no server is
 * started at or after it. Durations are elapsed time: a 120-minute window that opens at 01:30 on
 * the night clocks go back still closes 120 minutes later.
 */
export interface WindowSlot {
  start: Date;
  end: Date;
  cutoffAt: Date;
  /** Which of the policy's windows it came from (-1: the immediate window). */
  index: number;
  /** The zone the window was written in, for showing local times. */
  timezone: string;
  /** How the policy describes it: `cron "0 2 * * 6" Europe/Paris`, `fixed dates`, `every 14d`. */
  label: string;
}

const MINUTE = 60_000;
const DAY = 86_400_000;
// Enough to walk a per-minute cron across a whole day's lookback; a guard, never a limit in use.
const MAX_STEPS = 10_000;

export function windowLabel(w: PatchWindow): string {
  if (w.cron !== undefined) return `cron "${w.cron}" ${w.timezone ?? 'UTC'}`;
  if (w.dates !== undefined) return `fixed dates (${w.dates.length})`;
  return `every ${w.every} from ${w.start}${w.timezone ? ` ${w.timezone}` : ''}`;
}

function slotAt(start: Date, w: PatchWindow, index: number): WindowSlot {
  const end = new Date(start.getTime() + w.durationMinutes * MINUTE);
  return {
    start,
    end,
    cutoffAt: new Date(end.getTime() - w.cutoffMinutes * MINUTE),
    index,
    timezone: w.timezone ?? 'UTC',
    label: windowLabel(w),
  };
}

/** Usable from `after`: not yet started, or (includeCurrent) started with its cutoff still ahead. */
function usable(slot: WindowSlot, after: Date, includeCurrent: boolean): boolean {
  return includeCurrent ? slot.cutoffAt > after : slot.start >= after;
}

function nextCron(
  w: PatchWindow,
  index: number,
  after: Date,
  includeCurrent: boolean,
): WindowSlot | undefined {
  const lookback = includeCurrent ? w.durationMinutes * MINUTE : 1;
  const it = CronExpressionParser.parse(w.cron!, {
    tz: w.timezone ?? 'UTC',
    currentDate: new Date(after.getTime() - lookback),
  });
  for (let i = 0; i < MAX_STEPS; i++) {
    let start: Date;
    try {
      start = it.next().toDate();
    } catch {
      return undefined; // an expression with no further occurrence (a past year)
    }
    const slot = slotAt(start, w, index);
    if (usable(slot, after, includeCurrent)) return slot;
  }
  return undefined;
}

function nextDate(
  w: PatchWindow,
  index: number,
  after: Date,
  includeCurrent: boolean,
): WindowSlot | undefined {
  const starts = w.dates!.map((d) => new Date(d)).sort((a, b) => a.getTime() - b.getTime());
  for (const start of starts) {
    const slot = slotAt(start, w, index);
    if (usable(slot, after, includeCurrent)) return slot;
  }
  return undefined;
}

/** The zone's offset from UTC at `ms`, in ms (wall clock minus UTC). */
function offsetAt(ms: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(new Date(ms));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return wall - (ms - (((ms % 1000) + 1000) % 1000));
}

/**
 * `instant` moved by whole days of the wall clock in `timeZone`: 03:00 stays 03:00 across a DST
 * change. A wall time that does not exist that day (the spring gap) lands an hour later.
 */
export function addLocalDays(instant: Date, days: number, timeZone: string): Date {
  const wall = instant.getTime() + offsetAt(instant.getTime(), timeZone) + days * DAY;
  let t = wall - offsetAt(wall, timeZone);
  const second = offsetAt(t, timeZone);
  if (wall - second !== t) t = wall - second;
  return new Date(t);
}

function nextInterval(
  w: PatchWindow,
  index: number,
  after: Date,
  includeCurrent: boolean,
): WindowSlot | undefined {
  const everyMs = parseDuration(w.every!);
  const first = new Date(w.start!);
  const byDays = w.timezone !== undefined && everyMs % DAY === 0;
  const at = (k: number) =>
    byDays ? addLocalDays(first, (k * everyMs) / DAY, w.timezone!) : new Date(first.getTime() + k * everyMs);
  const from = after.getTime() - (includeCurrent ? w.durationMinutes * MINUTE : 0);
  // DST moves a local-day occurrence by an hour at most: start one period early and walk forward.
  const k0 = Math.max(0, Math.floor((from - first.getTime()) / everyMs) - 1);
  for (let k = k0; k < k0 + 4; k++) {
    const slot = slotAt(at(k), w, index);
    if (usable(slot, after, includeCurrent)) return slot;
  }
  return undefined;
}

function nextOf(w: PatchWindow, index: number, after: Date, includeCurrent: boolean): WindowSlot | undefined {
  if (w.cron !== undefined) return nextCron(w, index, after, includeCurrent);
  if (w.dates !== undefined) return nextDate(w, index, after, includeCurrent);
  if (w.every !== undefined) return nextInterval(w, index, after, includeCurrent);
  return undefined;
}

/**
 * The earliest window usable from `after`, across all of the policy's windows, or undefined when
 * none is left (no windows, or only past dates). With `includeCurrent` (the default) a window
 * already open counts while its cutoff is ahead: the run starts at once and stops at the cutoff.
 */
export function nextWindow(
  windows: readonly PatchWindow[],
  after: Date,
  options: { includeCurrent?: boolean } = {},
): WindowSlot | undefined {
  const includeCurrent = options.includeCurrent ?? true;
  let best: WindowSlot | undefined;
  windows.forEach((w, index) => {
    const slot = nextOf(w, index, after, includeCurrent);
    if (slot && (!best || slot.start < best.start)) best = slot;
  });
  return best;
}

/** The window of a `now` or CVE plan: opens at `now`, with the policy's immediate duration and cutoff. */
export function immediateWindow(policy: Pick<PatchPolicy, 'immediateWindow'>, now: Date): WindowSlot {
  const { durationMinutes, cutoffMinutes } = policy.immediateWindow;
  const end = new Date(now.getTime() + durationMinutes * MINUTE);
  return {
    start: now,
    end,
    cutoffAt: new Date(end.getTime() - cutoffMinutes * MINUTE),
    index: -1,
    timezone: 'UTC',
    label: 'immediately after approval',
  };
}

function localTime(at: Date, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    weekday: 'short',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(at);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return `${get('weekday')} ${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')}`;
}

/** `Sat 2026-01-10 03:00–05:00 Europe/Paris (cutoff 04:45)`: local to the window's zone. */
export function formatSlot(slot: Pick<WindowSlot, 'start' | 'end' | 'cutoffAt' | 'timezone'>): string {
  const tz = slot.timezone;
  const start = localTime(slot.start, tz);
  const end = localTime(slot.end, tz);
  const endShown = end.slice(0, 14) === start.slice(0, 14) ? end.slice(15) : end;
  const cutoff =
    slot.cutoffAt.getTime() === slot.end.getTime()
      ? ''
      : ` (cutoff ${localTime(slot.cutoffAt, tz).slice(15)})`;
  return `${start}–${endShown} ${tz}${cutoff}`;
}
