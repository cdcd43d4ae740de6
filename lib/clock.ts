/** Time is a dependency: every expiry, window and rotation reads it from here. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that only moves when told to, for tests. */
export interface FakeClock extends Clock {
  set(at: Date | string): void;
  advance(ms: number): Date;
}

export function createFakeClock(start: Date | string = '2026-01-05T09:00:00Z'): FakeClock {
  let current = new Date(start).getTime();
  return {
    now: () => new Date(current),
    set(at) {
      current = new Date(at).getTime();
    },
    advance(ms) {
      current += ms;
      return new Date(current);
    },
  };
}
