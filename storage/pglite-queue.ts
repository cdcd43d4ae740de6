import type { PGlite } from '@electric-sql/pglite';

/**
 * The query queue behind the embedded database's socket server.
 *
 * PGlite is one session. pglite-socket's own queue hands it one protocol message at a time and
 * only keeps a connection to itself while a transaction is open. Outside a transaction the
 * messages of an extended-protocol query (Parse, Bind, Describe, Execute … Sync) from two
 * connections could interleave, and one connection's Bind would then replace the other's
 * unnamed portal ("portal \"\" does not exist"). This queue also keeps the session for a
 * connection from its first extended-protocol message until its Sync.
 *
 * It has the same shape as pglite-socket's (enqueue, clearQueueForHandler,
 * clearTransactionIfNeeded, getQueueLength) and is swapped in before the server starts.
 */
interface Pending {
  handlerId: number;
  message: Uint8Array;
  onData: (data: Uint8Array) => void;
  resolve: (bytes: number) => void;
  reject: (error: unknown) => void;
}

// Parse, Bind, Describe, Execute, Close, Flush: the session must stay with the sender until Sync.
const EXTENDED = new Set(['P', 'B', 'D', 'E', 'C', 'H'].map((c) => c.charCodeAt(0)));
const SYNC = 'S'.charCodeAt(0);

export interface SessionQueue {
  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number>;
  clearQueueForHandler(handlerId: number): void;
  clearTransactionIfNeeded(handlerId: number): Promise<void>;
  getQueueLength(): number;
}

export function createSessionQueue(db: PGlite): SessionQueue {
  let queue: Pending[] = [];
  let processing = false;
  let lastHandler: number | null = null;
  // The connection that is mid-way through an extended-protocol exchange, if any.
  let extendedOwner: number | null = null;

  function owner(): number | null {
    if (extendedOwner !== null) return extendedOwner;
    return db.isInTransaction() ? lastHandler : null;
  }

  async function processQueue(): Promise<void> {
    if (processing) return;
    processing = true;
    try {
      while (queue.length > 0) {
        const pinned = owner();
        const index = pinned === null ? 0 : queue.findIndex((p) => p.handlerId === pinned);
        // The session belongs to a connection whose next message has not arrived yet: wait for it.
        if (index === -1) break;
        const item = queue.splice(index, 1)[0]!;
        const type = item.message[0]!;
        let bytes = 0;
        try {
          await db.runExclusive(() =>
            db.execProtocolRawStream(item.message, {
              onRawData: (data: Uint8Array) => {
                bytes += data.length;
                item.onData(data);
              },
            }),
          );
        } catch (error) {
          item.reject(error);
          continue;
        }
        lastHandler = item.handlerId;
        if (EXTENDED.has(type)) extendedOwner = item.handlerId;
        else if (type === SYNC && extendedOwner === item.handlerId) extendedOwner = null;
        item.resolve(bytes);
      }
    } finally {
      processing = false;
    }
  }

  return {
    enqueue(handlerId, message, onData) {
      return new Promise<number>((resolve, reject) => {
        queue.push({ handlerId, message, onData, resolve, reject });
        void processQueue();
      });
    },
    clearQueueForHandler(handlerId) {
      queue = queue.filter((p) => {
        if (p.handlerId !== handlerId) return true;
        p.reject(new Error('connection closed'));
        return false;
      });
      if (extendedOwner === handlerId) extendedOwner = null;
    },
    async clearTransactionIfNeeded(handlerId) {
      if (extendedOwner === handlerId) extendedOwner = null;
      if (db.isInTransaction() && lastHandler === handlerId) {
        await db.exec('ROLLBACK');
        lastHandler = null;
      }
      void processQueue();
    },
    getQueueLength() {
      return queue.length;
    },
  };
}
