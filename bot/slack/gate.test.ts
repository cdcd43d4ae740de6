import { describe, expect, it } from 'vitest';
import { createGate } from './gate.js';

describe('createGate', () => {
  it('lets `limit` through at once and the rest in arrival order, one per release', async () => {
    const gate = createGate(2);
    const order: number[] = [];
    const releases = await Promise.all([gate.acquire(), gate.acquire()]);
    const later = [3, 4, 5].map((n) =>
      gate.acquire().then((release) => {
        order.push(n);
        return release;
      }),
    );
    expect(gate.waiting).toBe(3);
    releases[0]!();
    releases[0]!(); // a second release of the same slot changes nothing
    const third = await later[0]!;
    expect(order).toEqual([3]);
    expect(gate.running).toBe(2);
    releases[1]!();
    third();
    const [fourth, fifth] = await Promise.all([later[1]!, later[2]!]);
    expect(order).toEqual([3, 4, 5]);
    fourth();
    fifth();
    expect(gate.running).toBe(0);
    expect(() => createGate(0)).toThrow(/at least 1/);
  });
});
