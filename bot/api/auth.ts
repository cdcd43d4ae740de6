import type { Context } from 'hono';
import type { Deps } from '../../commands/deps.js';
import { holdsAnywhere } from '../../commands/inventory/scope.js';
import type { Actor } from '../../commands/rbac/authorize.js';
import { rolesGranting } from '../../commands/rbac/authorize.js';
import type { Permission } from '../../commands/rbac/roles.js';
import { authenticateToken } from '../../commands/tokens/tokens.js';
import { AppError } from '../../lib/errors.js';
import type { AppEnv } from '../http/context.js';

/**
 * `Authorization: Bearer wdn_…` → the actor (the token's user, narrowed to the token's scopes
 * and project). Anything else is a 401 that says what to send; the error handler adds
 * `WWW-Authenticate`. The actor is also put on the context for later middlewares.
 */
export async function authenticateRequest(c: Context<AppEnv>, deps: Deps): Promise<Actor> {
  const header = c.req.header('authorization');
  if (!header) {
    throw new AppError(
      'unauthenticated',
      'this API needs a token: send Authorization: Bearer <token> (create one with POST /api/v1/tokens or in chat)',
      { details: { reason: 'missing' } },
    );
  }
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (!match) {
    throw new AppError('unauthenticated', 'the Authorization header must be "Bearer <token>"', {
      details: { reason: 'malformed', tokenPresented: true },
    });
  }
  const actor = await authenticateToken(deps, match[1]!);
  c.set('actor', actor);
  c.set('log', c.get('log').child({ user: actor.user.handle, tokenId: actor.tokenId }));
  return actor;
}

/**
 * The route-level check: does the actor hold `permission` anywhere? It stops tokens without the
 * scope, and users without the role, early with a 403 naming what is missing. The command then
 * checks the permission precisely, on the project concerned.
 */
export function requirePermission(actor: Actor, permission: Permission): void {
  if (holdsAnywhere(actor, permission)) return;
  const scoped = actor.tokenScopes?.some(
    (s) => s === permission || (s === 'sop:run:*' && permission.startsWith('sop:run:')),
  );
  if (actor.tokenScopes && !scoped) {
    throw new AppError(
      'forbidden',
      `this API token is not scoped for ${permission}; create a token that includes it`,
      { details: { permission, reason: 'token-scope' } },
    );
  }
  throw new AppError(
    'forbidden',
    `you need the ${permission} permission; ask an admin to bind you to one of these roles: ${rolesGranting(permission).join(', ')}`,
    { details: { permission, reason: 'role' } },
  );
}
