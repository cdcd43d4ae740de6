import type { Target } from '../../integrations/targets/types.js';
import { validateTicket } from '../../integrations/tickets/validate.js';
import { AppError } from '../../lib/errors.js';
import type { Queryable } from '../../storage/db.js';
import type { Server } from '../../storage/inventory.js';
import { listUserPublicKeys, type UserPublicKey } from '../../storage/keys.js';
import type { Deps } from '../deps.js';

/**
 * What access needs from its neighbours, in one place: a Target per server (the scanning core's
 * factory on `deps.targets`), the requester's registered public keys (the key registry) and ticket
 * checks (the tickets integration). A change of contract touches this file only.
 */
export type { UserPublicKey } from '../../storage/keys.js';

export async function targetFor(deps: Deps, server: Server): Promise<Target> {
  if (!deps.targets) {
    throw new AppError(
      'unavailable',
      'this Warden has no way to reach servers (no target factory is configured); the change waits and is retried.',
    );
  }
  return deps.targets.forServer(server, deps);
}

export function userPublicKeys(sql: Queryable, userId: number): Promise<UserPublicKey[]> {
  return listUserPublicKeys(sql, userId);
}

/**
 * Check a ticket reference: refused (`bad_request`, written for the requester) when missing,
 * malformed, unknown or closed; only the format is checked when no ticket system is configured.
 * An unreachable ticket system throws its IntegrationError. Returns the normalised key.
 */
export async function checkTicket(deps: Deps, ticket: string): Promise<CheckedTicket> {
  const checked = await validateTicket(deps, ticket);
  if (!checked.checked) return { key: checked.key };
  return { key: checked.key, link: { system: checked.system, key: checked.key, url: checked.url } };
}

/** A checked ticket; `link` is set when a ticket system confirmed it, so the request can be linked to it. */
export interface CheckedTicket {
  key: string;
  link?: { system: 'jira' | 'servicenow'; key: string; url: string };
}
