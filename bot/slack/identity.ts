import type { webApi } from '@slack/bolt';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { Queryable } from '../../storage/db.js';
import { type CachedSlackUser, getCachedSlackUser, putCachedSlackUser } from '../../storage/slack.js';
import type { PlatformUser } from '../chat/model.js';

/**
 * Who a Slack user is, as the router needs it: their Slack id, a display name, and — only when
 * Slack vouches for it (users.info with the users:read.email scope) — their e-mail, by which the
 * router links them to a Warden user the first time. Answers are cached in memory (this
 * replica) and in Postgres (every replica) until they expire.
 */
export interface SlackIdentityOptions {
  sql: Queryable;
  client: webApi.WebClient;
  clock: Clock;
  log: Logger;
  /** How long a users.info answer is trusted; default one hour. */
  ttlMs?: number;
  /** Memory entries kept at most (oldest dropped first); default 10,000. */
  maxEntries?: number;
}

export interface SlackIdentity {
  /**
   * The platform user for `userId`. `lookupFailed` is set when Slack could not be asked (so an
   * unlinked user should be told to try again, not that Warden does not know them).
   */
  describe(userId: string, fallbackName?: string): Promise<PlatformUser & { lookupFailed?: boolean }>;
  /** Forget a user (tests, or after Slack says their profile changed). */
  forget(userId: string): void;
}

const DEFAULT_TTL_MS = 60 * 60_000;

interface UsersInfoUser {
  id?: string;
  team_id?: string;
  name?: string;
  real_name?: string;
  deleted?: boolean;
  is_bot?: boolean;
  is_email_confirmed?: boolean;
  profile?: { email?: string; display_name?: string; real_name?: string };
}

function toPlatformUser(entry: CachedSlackUser, fallbackName?: string): PlatformUser {
  const name = entry.name ?? fallbackName;
  // A deactivated account or a bot never speaks for a person, whatever address it carries.
  const email = entry.deleted || entry.isBot ? null : entry.email;
  return {
    platform: 'slack',
    externalId: entry.userId,
    ...(name ? { displayName: name } : {}),
    ...(email ? { email } : {}),
  };
}

export function createSlackIdentity(options: SlackIdentityOptions): SlackIdentity {
  const { sql, client, clock, log } = options;
  const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
  const maxEntries = options.maxEntries ?? 10_000;
  const memory = new Map<string, CachedSlackUser>();
  const inflight = new Map<string, Promise<CachedSlackUser | undefined>>();

  function remember(entry: CachedSlackUser): void {
    memory.delete(entry.userId);
    memory.set(entry.userId, entry);
    if (memory.size > maxEntries) memory.delete(memory.keys().next().value as string);
  }

  async function fetchUser(userId: string): Promise<CachedSlackUser | undefined> {
    const now = clock.now();
    const stored = await getCachedSlackUser(sql, userId, now);
    if (stored) return stored;
    try {
      const answer = await client.users.info({ user: userId });
      const user = (answer.user ?? {}) as UsersInfoUser;
      const email = user.is_email_confirmed === false ? undefined : user.profile?.email?.trim().toLowerCase();
      const entry: CachedSlackUser = {
        userId,
        teamId: user.team_id ?? null,
        name: user.profile?.display_name || user.real_name || user.name || null,
        email: email || null,
        deleted: user.deleted === true,
        isBot: user.is_bot === true,
        fetchedAt: now,
        expiresAt: new Date(now.getTime() + ttlMs),
      };
      await putCachedSlackUser(sql, entry);
      return entry;
    } catch (error) {
      log.warn(
        { err: error, slackUser: userId },
        'Slack users.info failed; the user is treated as unverified until it answers (check the users:read and users:read.email scopes)',
      );
      return undefined;
    }
  }

  return {
    async describe(userId, fallbackName) {
      const now = clock.now().getTime();
      const cached = memory.get(userId);
      if (cached && cached.expiresAt.getTime() > now) return toPlatformUser(cached, fallbackName);
      // Many clicks by one person at once share a single lookup.
      let pending = inflight.get(userId);
      if (!pending) {
        pending = fetchUser(userId).finally(() => inflight.delete(userId));
        inflight.set(userId, pending);
      }
      const entry = await pending;
      if (!entry) {
        return {
          platform: 'slack',
          externalId: userId,
          ...(fallbackName ? { displayName: fallbackName } : {}),
          lookupFailed: true,
        };
      }
      remember(entry);
      return toPlatformUser(entry, fallbackName);
    },
    forget(userId) {
      memory.delete(userId);
    },
  };
}
