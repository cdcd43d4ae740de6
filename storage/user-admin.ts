import type { Role } from '../commands/rbac/roles.js';
import type { Queryable } from './db.js';
import type { User } from './users.js';

/** Queries for administering people (commands/users): the list with bindings, and disabling. */
export interface UserWithBindings extends User {
  bindings: { role: Role; project: string | null }[];
}

export async function listUsersWithBindings(sql: Queryable): Promise<UserWithBindings[]> {
  return sql<UserWithBindings[]>`
    select u.id, u.handle, u.display_name as "displayName", u.email, u.disabled,
      coalesce(
        (select json_agg(json_build_object('role', b.role, 'project', p.slug) order by p.slug nulls first, b.role)
         from role_bindings b left join projects p on p.id = b.project_id where b.user_id = u.id),
        '[]'::json) as bindings
    from users u order by u.handle`;
}

export async function setUserDisabled(sql: Queryable, id: number, disabled: boolean): Promise<void> {
  await sql`update users set disabled = ${disabled} where id = ${id}`;
}

/** Does the binding exist (to tell "removed" from "there was nothing to remove")? */
export async function hasBinding(
  sql: Queryable,
  input: { userId: number; role: Role; projectId: number | null },
): Promise<boolean> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from role_bindings
    where user_id = ${input.userId} and role = ${input.role} and project_id is not distinct from ${input.projectId}`;
  return (row?.n ?? 0) > 0;
}
