import { AppError } from '../../lib/errors.js';
import type { Queryable } from '../../storage/db.js';
import { listBindings, type RoleBinding, type User, usersWithRoles } from '../../storage/users.js';
import { type Permission, ROLE_PERMISSIONS, ROLES, type Role, roleGrants } from './roles.js';

/**
 * The person (or token, or job) acting. Built once per request: the bindings are loaded with
 * the user, so every check after that is a pure function.
 */
export interface Actor {
  user: User;
  bindings: readonly RoleBinding[];
  /** Set when acting through an API token: the token's scopes further limit what the user may do. */
  tokenScopes?: readonly Permission[];
  /** Set when the token is limited to one project. */
  tokenProjectId?: number | null;
  /** Set when acting through an API token: which one (the trail records it). */
  tokenId?: number;
  via: 'console' | 'slack' | 'teams' | 'api' | 'job' | 'cli';
}

export interface ProjectScope {
  id: number;
  slug: string;
}

export async function loadActor(sql: Queryable, user: User, via: Actor['via']): Promise<Actor> {
  return { user, bindings: await listBindings(sql, user.id), via };
}

/** Does the actor hold `permission` on `project` (null: globally, i.e. through a global binding)? */
export function can(actor: Actor, permission: Permission, project: ProjectScope | number | null): boolean {
  if (actor.user.disabled) return false;
  const projectId = project === null ? null : typeof project === 'number' ? project : project.id;
  if (actor.tokenScopes) {
    const scoped = actor.tokenScopes.some(
      (s) => s === permission || (s === 'sop:run:*' && permission.startsWith('sop:run:')),
    );
    if (!scoped) return false;
    if (actor.tokenProjectId != null && actor.tokenProjectId !== projectId) return false;
  }
  return actor.bindings.some(
    (b) => (b.projectId === null || b.projectId === projectId) && roleGrants(b.role, permission),
  );
}

/** Does the actor hold `permission` on at least one project (or globally)? Used to filter help. */
export function canAnywhere(actor: Actor, permission: Permission): boolean {
  return actor.bindings.some((b) => can(actor, permission, b.projectId));
}

/** Throw a `forbidden` AppError that says what is missing and who can grant it. */
export function authorize(actor: Actor, permission: Permission, project: ProjectScope | null): void {
  if (can(actor, permission, project)) return;
  const where = project ? `on project ${project.slug}` : 'globally';
  const roles = ROLES.filter((r) => roleGrants(r, permission)).join(', ');
  const viaToken = actor.tokenScopes ? ' (or your API token is not scoped for it)' : '';
  throw new AppError(
    'forbidden',
    `you need the ${permission} permission ${where}${viaToken}; ask an admin to bind you to one of these roles: ${roles}`,
    { details: { permission, project: project?.slug ?? null } },
  );
}

/** Roles that grant `permission`. */
export function rolesGranting(permission: Permission): Role[] {
  return ROLES.filter((r) => ROLE_PERMISSIONS[r].includes(permission) || roleGrants(r, permission));
}

/** Every user who holds `permission` on the project: the people to ask for an approval. */
export function usersWithPermission(sql: Queryable, permission: Permission, projectId: number | null) {
  return usersWithRoles(sql, rolesGranting(permission), projectId);
}
