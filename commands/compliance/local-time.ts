/**
 * Local calendar days in an IANA time zone, without a date library: Intl gives the wall-clock
 * parts of an instant, and local midnight is found by correcting a guess with the zone's offset
 * (twice, so a DST change on that day lands right).
 */
export interface LocalMoment {
  /** YYYY-MM-DD in the zone. */
  day: string;
  /** Minutes since local midnight. */
  minutes: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone: timezone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timezone, f);
  }
  return f;
}

function wallClock(at: Date, timezone: string): Record<string, number> {
  const parts: Record<string, number> = {};
  for (const p of formatter(timezone).formatToParts(at)) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  return parts;
}

/** The zone's offset from UTC at `at`, in ms (Paris in winter: +3,600,000). */
function offsetMs(at: Date, timezone: string): number {
  const w = wallClock(at, timezone);
  const asUtc = Date.UTC(w.year!, w.month! - 1, w.day!, w.hour!, w.minute!, w.second!);
  return asUtc - Math.floor(at.getTime() / 1000) * 1000;
}

export function localMoment(at: Date, timezone: string): LocalMoment {
  const w = wallClock(at, timezone);
  const day = `${String(w.year).padStart(4, '0')}-${String(w.month).padStart(2, '0')}-${String(w.day).padStart(2, '0')}`;
  return { day, minutes: w.hour! * 60 + w.minute! };
}

/** The instant a local wall-clock time happens (`day` YYYY-MM-DD, `minutes` after midnight). */
export function localInstant(day: string, minutes: number, timezone: string): Date {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  const guess = Date.UTC(y, m - 1, d) + minutes * 60_000;
  let at = guess - offsetMs(new Date(guess), timezone);
  at = guess - offsetMs(new Date(at), timezone);
  return new Date(at);
}

/** [start, end) of a local day, as instants. */
export function dayBounds(day: string, timezone: string): { start: Date; end: Date } {
  return { start: localInstant(day, 0, timezone), end: localInstant(addDays(day, 1), 0, timezone) };
}

/** YYYY-MM-DD plus n calendar days. */
export function addDays(day: string, n: number): string {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/** "09:30" → 570. */
export function minutesOf(time: string): number {
  const [h, m] = time.split(':').map(Number) as [number, number];
  return h * 60 + m;
}
