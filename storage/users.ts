import type { Platform } from '../bot/chat/model.js';
import type { Role } from '../commands/rbac/roles.js';
import type { Queryable } from './db.js';

export interface User {
  id: number;
  handle: string;
  displayName: string;
  email: string | null;
  disabled: boolean;
}

export interface RoleBinding {
  userId: number;
  role: Role;
  /** null: every project */
  projectId: number | null;
}

const userColumns = (sql: Queryable) => sql`id, handle, display_name as "displayName", email, disabled`;

export async function getUser(sql: Queryable, id: number): Promise<User | undefined> {
  const [row] = await sql<User[]>`select ${userColumns(sql)} from users where id = ${id}`;
  return row;
}

export async function getUserByHandle(sql: Queryable, handle: string): Promise<User | undefined> {
  const [row] = await sql<
    User[]
  >`select ${userColumns(sql)} from users where handle = ${handle.toLowerCase()}`;
  return row;
}

export async function getUserByEmail(sql: Queryable, email: string): Promise<User | undefined> {
  const [row] = await sql<User[]>`select ${userColumns(sql)} from users where email = ${email.toLowerCase()}`;
  return row;
}

export async function findUserByIdentity(
  sql: Queryable,
  platform: Platform | 'api' | 'email',
  externalId: string,
): Promise<User | undefined> {
  const [row] = await sql<User[]>`
    select u.id, u.handle, u.display_name as "displayName", u.email, u.disabled
    from identities i join users u on u.id = i.user_id
    where i.platform = ${platform} and i.external_id = ${externalId}`;
  return row;
}

export async function createUser(
  sql: Queryable,
  input: { handle: string; displayName: string; email?: string | null },
): Promise<User> {
  const [row] = await sql<User[]>`
    insert into users (handle, display_name, email)
    values (${input.handle.toLowerCase()}, ${input.displayName}, ${input.email?.toLowerCase() ?? null})
    returning ${userColumns(sql)}`;
  return row!;
}

export async function addIdentity(
  sql: Queryable,
  input: {
    userId: number;
    platform: Platform | 'api' | 'email';
    externalId: string;
    email?: string | null;
    verified?: boolean;
  },
): Promise<void> {
  await sql`
    insert into identities (user_id, platform, external_id, email, verified_at)
    values (${input.userId}, ${input.platform}, ${input.externalId}, ${input.email ?? null},
            ${input.verified ? sql`now()` : null})
    on conflict (platform, external_id) do update set user_id = excluded.user_id, email = excluded.email,
      verified_at = excluded.verified_at`;
}

export async function bindRole(
  sql: Queryable,
  input: { userId: number; role: Role; projectId: number | null; grantedBy?: number | null },
): Promise<void> {
  await sql`
    insert into role_bindings (user_id, role, project_id, granted_by)
    values (${input.userId}, ${input.role}, ${input.projectId}, ${input.grantedBy ?? null})
    on conflict (user_id, role, project_id) do nothing`;
}

export async function unbindRole(
  sql: Queryable,
  input: { userId: number; role: Role; projectId: number | null },
) {
  await sql`
    delete from role_bindings
    where user_id = ${input.userId} and role = ${input.role} and project_id is not distinct from ${input.projectId}`;
}

export async function listBindings(sql: Queryable, userId: number): Promise<RoleBinding[]> {
  return sql<RoleBinding[]>`
    select user_id as "userId", role, project_id as "projectId" from role_bindings where user_id = ${userId}
    order by project_id nulls first, role`;
}

/** Every active user bound to one of `roles` on `projectId` (or globally). */
export async function usersWithRoles(
  sql: Queryable,
  roles: readonly Role[],
  projectId: number | null,
): Promise<User[]> {
  return sql<User[]>`
    select distinct u.id, u.handle, u.display_name as "displayName", u.email, u.disabled
    from role_bindings b join users u on u.id = b.user_id
    where b.role = any(${roles as Role[]}) and not u.disabled
      and (b.project_id is null or b.project_id = ${projectId})
    order by u.id`;
}

export interface Identity {
  platform: Platform | 'api' | 'email';
  externalId: string;
  email: string | null;
  verified: boolean;
}

/** A user's identities on each platform (whoami, admin views). */
export async function listIdentities(sql: Queryable, userId: number): Promise<Identity[]> {
  return sql<Identity[]>`
    select platform, external_id as "externalId", email, verified_at is not null as verified
    from identities where user_id = ${userId} order by platform, external_id`;
}

/** A user's role bindings with the project slug (null: every project). */
export async function listBindingsWithProjects(
  sql: Queryable,
  userId: number,
): Promise<(RoleBinding & { projectSlug: string | null })[]> {
  return sql<(RoleBinding & { projectSlug: string | null })[]>`
    select b.user_id as "userId", b.role, b.project_id as "projectId", p.slug as "projectSlug"
    from role_bindings b left join projects p on p.id = b.project_id
    where b.user_id = ${userId}
    order by p.slug nulls first, b.role`;
}
