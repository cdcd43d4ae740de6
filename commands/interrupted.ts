import type { Notification, Platform } from '../bot/chat/model.js';
import type { Queryable } from '../storage/db.js';
import { withTx } from '../storage/db.js';
import {
  claimInterruptedInteractions,
  heartbeatInteractions,
  type InteractionRecord,
  parseUserRef,
} from '../storage/interactions.js';
import { findUserByIdentity } from '../storage/users.js';
import { formatUtc, oneLine } from './approvals/render.js';
import { recordEvent } from './audit/trail.js';
import type { Deps } from './deps.js';

/**
 * Interactions are committed before they are acknowledged, so a crash right after the
 * acknowledgement loses nothing; this module makes sure nobody waits for ever either. While a
 * process runs an interaction it keeps it in a per-pool set and refreshes its heartbeat every
 * 30 s. One still 'received' with no heartbeat for `staleAfterMs` was left by a process that
 * died: the sweep marks it failed ('interrupted'), puts that on the trail, and tells the user
 * by direct message that it may not have taken effect.
 *
 * It is not run again: a command may have done part of its work before the crash (a request
 * created, a decision committed), and running it a second time could do it twice. The user is
 * asked to check and retry.
 */
export const INTERACTION_HEARTBEAT_MS = 30_000;
/** Four missed heartbeats: the process is gone, not slow. */
export const INTERRUPTED_AFTER_MS = 2 * 60_000;

/** Interactions claimed per transaction of the sweep; it goes on until a batch comes back short. */
const SWEEP_BATCH = 100;

const running = new WeakMap<object, Set<number>>();

/** Mark an interaction as running in this process until the returned function is called. */
export function trackRunning(sql: Queryable, id: number): () => void {
  const ids = running.get(sql) ?? new Set<number>();
  running.set(sql, ids);
  ids.add(id);
  return () => ids.delete(id);
}

/** The interactions this process is running on `sql` now. */
export function runningInteractions(sql: Queryable): number[] {
  return [...(running.get(sql) ?? [])];
}

/**
 * Refresh the heartbeat of this process's running interactions every `everyMs`. Returns the
 * stop function. A failed refresh is logged and retried at the next beat.
 */
export function startInteractionHeartbeat(
  deps: Pick<Deps, 'sql' | 'clock' | 'log'>,
  options: { everyMs?: number } = {},
): () => Promise<void> {
  let beating: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    beating = heartbeatInteractions(deps.sql, runningInteractions(deps.sql), deps.clock.now()).catch(
      (err: unknown) =>
        deps.log.warn({ err }, 'could not refresh the heartbeat of running interactions; retried shortly'),
    );
  }, options.everyMs ?? INTERACTION_HEARTBEAT_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await beating;
  };
}

function whatWasAsked(record: InteractionRecord): string {
  const body = record.body as { text?: unknown; actionId?: unknown; formId?: unknown };
  const text = (value: unknown) => (typeof value === 'string' ? oneLine(value, 80) : '');
  if (record.kind === 'command') return `command "${text(body.text) || '/warden'}"`;
  if (record.kind === 'action') return `click on "${text(body.actionId) || 'a button'}"`;
  return `form "${text(body.formId) || 'a form'}"`;
}

/**
 * Mark interactions left by a dead process as interrupted and tell their users. Returns their
 * ids. `staleAfterMs: 0` at start-up in embedded mode, where this is the only process.
 */
export async function sweepInterruptedInteractions(
  deps: Deps,
  options: { staleAfterMs?: number } = {},
): Promise<number[]> {
  const now = deps.clock.now();
  const before = new Date(now.getTime() - (options.staleAfterMs ?? INTERRUPTED_AFTER_MS));
  const swept: number[] = [];
  for (;;) {
    const batch = await withTx(deps.sql, async (tx) => {
      const claimed = await claimInterruptedInteractions(tx, { before, at: now, limit: SWEEP_BATCH });
      for (const record of claimed) {
        const who = parseUserRef(record.userRef);
        const user = who ? await findUserByIdentity(tx, who.platform as Platform, who.externalId) : undefined;
        const what = whatWasAsked(record);
        const notifications: Notification[] = user
          ? [
              {
                kind: 'direct',
                userId: user.id,
                reply: {
                  visibility: 'private',
                  tone: 'warning',
                  header: 'Warden was interrupted',
                  text: `Warden stopped while it was handling your ${what} of ${formatUtc(record.receivedAt)} (reference #${record.id}), so it may not have taken effect. Check whether it did before you try again.`,
                },
              },
            ]
          : [];
        await recordEvent(
          tx,
          deps,
          {
            actor: 'job:interactions-sweep',
            action: 'interaction.interrupted',
            data: {
              interactionId: record.id,
              platform: record.platform,
              kind: record.kind,
              what,
              receivedAt: record.receivedAt.toISOString(),
              userNotified: Boolean(user),
            },
          },
          notifications,
        );
      }
      return claimed.map((r) => r.id);
    });
    swept.push(...batch);
    if (batch.length < SWEEP_BATCH) break;
  }
  if (swept.length) deps.kickOutbox?.();
  return swept;
}
