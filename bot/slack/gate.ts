/**
 * At most `limit` pieces of after-acknowledgement work at once; the rest wait their turn in
 * arrival order. Acknowledgements never wait here, only the work that follows them, so a burst
 * of clicks cannot pile hundreds of queries onto the main pool (where they would also delay
 * the outbox and every other command).
 */
export interface Gate {
  /** Resolves with a release function once a slot is free. */
  acquire(): Promise<() => void>;
  readonly waiting: number;
  readonly running: number;
}

export function createGate(limit: number): Gate {
  if (!Number.isInteger(limit) || limit < 1)
    throw new Error(`a gate needs a limit of at least 1, not ${limit}`);
  const queue: (() => void)[] = [];
  let running = 0;
  function release(): void {
    const next = queue.shift();
    if (next) next();
    else running--;
  }
  function once(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      release();
    };
  }
  return {
    acquire() {
      if (running < limit) {
        running++;
        return Promise.resolve(once());
      }
      // The slot passes straight from the releaser to the next in line: running stays the same.
      return new Promise((resolve) => queue.push(() => resolve(once())));
    },
    get waiting() {
      return queue.length;
    },
    get running() {
      return running;
    },
  };
}
