import { z } from 'zod';
import type { Deps } from '../../commands/deps.js';
import { findUserByIdentity } from '../../storage/users.js';
import type { PlatformUser } from '../chat/model.js';

/**
 * Who a Teams user is to Warden. The activity names the person by their Entra object id
 * (`from.aadObjectId`), which is the Teams identity Warden links. A person not linked yet is
 * looked up in the conversation roster, where Teams gives the e-mail address and UPN its
 * directory holds; the router then links them to the Warden user with that address (on the
 * trail), or answers that Warden does not know them.
 */
export interface RosterEntry {
  email?: string | null;
  userPrincipalName?: string | null;
}

/** Fetches the sender's roster entry (TeamsInfo.getMember in production). */
export type RosterLookup = () => Promise<RosterEntry | undefined>;

const Email = z.email().max(254);

/** The directory's e-mail, else a UPN that is an address, lower-cased; undefined when neither is. */
export function rosterEmail(entry: RosterEntry | undefined): string | undefined {
  for (const candidate of [entry?.email, entry?.userPrincipalName]) {
    if (typeof candidate !== 'string') continue;
    const email = candidate.trim().toLowerCase();
    // Guest UPNs (alice_example.com#EXT#@tenant…) are not the person's address.
    if (!email.includes('#ext#') && Email.safeParse(email).success) return email;
  }
  return undefined;
}

/**
 * The sender as the router should see them: unchanged when already linked (no roster call),
 * else with the roster's verified e-mail when Teams gives one.
 */
export async function resolveTeamsUser(
  deps: Deps,
  user: PlatformUser,
  lookup: RosterLookup,
): Promise<PlatformUser> {
  if (await findUserByIdentity(deps.sql, 'teams', user.externalId)) return user;
  let entry: RosterEntry | undefined;
  try {
    entry = await lookup();
  } catch (err) {
    // Without the roster the person is simply unknown; the router says whom to ask.
    deps.log.warn({ err, externalId: user.externalId }, 'Teams roster lookup failed');
    return user;
  }
  const email = rosterEmail(entry);
  return email ? { ...user, email } : user;
}
