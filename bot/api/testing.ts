import type { Deps } from '../../commands/deps.js';
import { type Actor, loadActor } from '../../commands/rbac/authorize.js';
import type { Role } from '../../commands/rbac/roles.js';
import { createToken } from '../../commands/tokens/tokens.js';
import type { Sql } from '../../storage/db.js';
import { getProjectBySlug, insertProject } from '../../storage/inventory.js';
import { bindRole, createUser, type User } from '../../storage/users.js';

/** Test helpers for the API: people, projects and tokens, made the way production makes them. */

export async function ensureProject(sql: Sql, slug: string, at = new Date('2026-01-01T00:00:00Z')) {
  return (
    (await getProjectBySlug(sql, slug)) ??
    insertProject(sql, { slug, name: `Project ${slug}`, description: '', channels: {} }, at)
  );
}

/** A user with role bindings; `project` is a slug (created if needed) or null for a global binding. */
export async function seedUser(
  sql: Sql,
  handle: string,
  bindings: { role: Role; project?: string | null }[],
): Promise<User> {
  const user = await createUser(sql, { handle, displayName: handle });
  for (const b of bindings) {
    const projectId = b.project ? (await ensureProject(sql, b.project)).id : null;
    await bindRole(sql, { userId: user.id, role: b.role, projectId });
  }
  return user;
}

export function actorFor(sql: Sql, user: User, via: Actor['via'] = 'cli'): Promise<Actor> {
  return loadActor(sql, user, via);
}

/** A plaintext token for `user`, created through the real command. */
export async function tokenFor(
  deps: Deps,
  user: User,
  scopes: string[],
  options: { projectSlug?: string; expiresIn?: string; name?: string } = {},
): Promise<string> {
  const actor = await actorFor(deps.sql, user);
  const { token } = await createToken(deps, actor, { name: options.name ?? 'test', scopes, ...options });
  return token;
}

export function bearer(token: string, extra: Record<string, string> = {}): Record<string, string> {
  return { Authorization: `Bearer ${token}`, ...extra };
}
