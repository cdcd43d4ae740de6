import type { Sql, Tx } from '../../storage/db.js';

/**
 * Database time as the application sees it: the wall-clock time during which at least one query
 * (or a transaction's BEGIN/COMMIT) was waiting on PostgreSQL. Overlapping (pipelined) queries
 * count once. JavaScript work between queries (the rules, chart rendering) is not counted.
 */
export interface DbMeter {
  sql: Sql;
  reset(): void;
  elapsedMs(): number;
  queries(): number;
}

export function meterSql(sql: Sql): DbMeter {
  let inFlight = 0;
  let busySince = 0;
  let busy = 0;
  let count = 0;
  const enter = () => {
    if (inFlight++ === 0) busySince = performance.now();
  };
  const leave = () => {
    if (--inFlight === 0) busy += performance.now() - busySince;
  };

  function track(value: unknown): unknown {
    if (!(value instanceof Promise)) return value;
    // postgres.js runs a query when it is first awaited (then); fragments never are.
    const query = value as Promise<unknown> & { then: Promise<unknown>['then'] };
    const original = query.then;
    let timed: Promise<unknown> | undefined;
    // biome-ignore lint/suspicious/noThenProperty: postgres.js runs a query on its first then(); the meter times that call
    query.then = function then(onFulfilled, onRejected) {
      if (!timed) {
        count += 1;
        enter();
        timed = original.call(
          query,
          (v) => {
            leave();
            return v;
          },
          (e) => {
            leave();
            throw e;
          },
        );
      }
      return timed.then(onFulfilled, onRejected);
    } as Promise<unknown>['then'];
    return query;
  }

  function wrap<T extends Sql | Tx>(target: T): T {
    return new Proxy(target, {
      apply(fn, thisArg, args) {
        return track(Reflect.apply(fn as (...a: unknown[]) => unknown, thisArg, args));
      },
      get(obj, prop, receiver) {
        const value = Reflect.get(obj, prop, receiver);
        if (prop === 'unsafe' && typeof value === 'function') {
          return (...args: unknown[]) => track((value as (...a: unknown[]) => unknown).apply(obj, args));
        }
        if (prop === 'reserve' && typeof value === 'function') {
          // withTx (storage/db.ts) runs a transaction on a reserved connection: its BEGIN, queries
          // and COMMIT are queries on that handle, so they are timed like any other.
          return async () => wrap((await (value as () => Promise<Tx>).call(obj)) as T);
        }
        return value;
      },
    });
  }

  return {
    sql: wrap(sql),
    reset() {
      busy = 0;
      count = 0;
    },
    elapsedMs: () => busy,
    queries: () => count,
  };
}
