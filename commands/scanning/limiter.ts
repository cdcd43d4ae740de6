/**
 * Bounds how many scans run at once in this process: a global cap and one per provider (a cloud
 * API's rate limit, a bastion's MaxStartups). Waiters are served first come, first served among
 * those whose provider has room, so one slow provider never blocks the others.
 */
export interface ScanLimiter {
  run<T>(provider: string, fn: () => Promise<T>): Promise<T>;
  stats(): { running: number; queued: number; byProvider: Record<string, number> };
}

export interface ScanLimits {
  /** Default 32. */
  global?: number;
  /** Per provider; a provider not listed is bounded by the global cap only. */
  perProvider?: Readonly<Record<string, number>>;
}

/** The default caps: `local` is this one machine, so its scans never overlap. */
export const DEFAULT_SCAN_LIMITS: Required<ScanLimits> = {
  global: 32,
  perProvider: { local: 1, ssh: 32, aws: 16, azure: 8, gcp: 8 },
};

interface Waiter {
  provider: string;
  start(): void;
}

export function createScanLimiter(limits: ScanLimits = {}): ScanLimiter {
  const globalCap = Math.max(1, limits.global ?? DEFAULT_SCAN_LIMITS.global);
  const perProvider = limits.perProvider ?? DEFAULT_SCAN_LIMITS.perProvider;
  const running = new Map<string, number>();
  const queue: Waiter[] = [];
  let total = 0;

  const hasRoom = (provider: string): boolean =>
    total < globalCap && (running.get(provider) ?? 0) < Math.max(1, perProvider[provider] ?? globalCap);

  function take(provider: string): void {
    total++;
    running.set(provider, (running.get(provider) ?? 0) + 1);
  }

  function release(provider: string): void {
    total--;
    running.set(provider, (running.get(provider) ?? 1) - 1);
    for (let i = 0; i < queue.length && total < globalCap; ) {
      const waiter = queue[i]!;
      if (hasRoom(waiter.provider)) {
        queue.splice(i, 1);
        take(waiter.provider);
        waiter.start();
      } else {
        i++;
      }
    }
  }

  return {
    run(provider, fn) {
      return new Promise((resolve, reject) => {
        const start = (): void => {
          Promise.resolve()
            .then(fn)
            .then(resolve, reject)
            .finally(() => release(provider));
        };
        if (hasRoom(provider)) {
          take(provider);
          start();
        } else {
          queue.push({ provider, start });
        }
      });
    },
    stats() {
      return { running: total, queued: queue.length, byProvider: Object.fromEntries(running) };
    },
  };
}
