import { z } from 'zod';
import { AppError } from '../../lib/errors.js';
import { type Tx, withTx } from '../../storage/db.js';
import { getProjectBySlug } from '../../storage/inventory.js';
import {
  hasBinding,
  listUsersWithBindings,
  setUserDisabled,
  type UserWithBindings,
} from '../../storage/user-admin.js';
import {
  addIdentity,
  bindRole,
  getUserByEmail,
  getUserByHandle,
  createUser as insertUser,
  type User,
  unbindRole,
} from '../../storage/users.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { parseInput, projectNotFound } from '../inventory/projects.js';
import { ProjectSlug, UserHandle } from '../inventory/schema.js';
import { actorFacts, actorRef, type CallMeta, pgErrorCode } from '../inventory/scope.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import { ROLES } from '../rbac/roles.js';

/**
 * People and their role bindings. Needs users:manage globally. `'cli'` is the operator at the
 * terminal with direct database access (bootstrap: `warden user add`); no RBAC applies to it,
 * and the trail names it `cli`.
 */
export type UserAdmin = Actor | 'cli';

export const UserCreate = z
  .object({
    handle: UserHandle,
    displayName: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[^\p{Cc}]*$/u, 'a display name may not contain control characters')
      .optional(),
    email: z.email('an e-mail address like ops@example.com').max(254),
  })
  .strict();
export type UserCreate = z.infer<typeof UserCreate>;

export const RoleBindingInput = z
  .object({
    role: z.enum(ROLES),
    project: ProjectSlug.nullable().optional().describe('a project slug; omit or null for every project'),
  })
  .strict();
export type RoleBindingInput = z.infer<typeof RoleBindingInput>;

function check(admin: UserAdmin): void {
  if (admin !== 'cli') authorize(admin, 'users:manage', null);
}

function trailFacts(admin: UserAdmin, meta: CallMeta) {
  return admin === 'cli'
    ? { actor: 'cli', facts: { via: 'cli' }, requestId: meta.requestId }
    : { actor: actorRef(admin), facts: actorFacts(admin), requestId: meta.requestId };
}

async function userOrNotFound(tx: Tx, handle: string): Promise<User> {
  const user = await getUserByHandle(tx, handle);
  if (!user) {
    throw new AppError('not_found', `there is no user "${handle}"; list users with GET /api/v1/users`, {
      details: { handle },
    });
  }
  return user;
}

async function projectIdOf(tx: Tx, slug: string | null | undefined): Promise<number | null> {
  if (!slug) return null;
  const project = await getProjectBySlug(tx, slug);
  if (!project) throw projectNotFound(slug);
  return project.id;
}

/** A new user with an `email` identity (so chat sign-in can match them by address). */
export function createUser(deps: Deps, admin: UserAdmin, input: unknown, meta: CallMeta = {}): Promise<User> {
  return createUserWithRole(deps, admin, input, undefined, meta);
}

/** createUser plus one role binding, all or nothing (`warden user add --role`). */
export async function createUserWithRole(
  deps: Deps,
  admin: UserAdmin,
  input: unknown,
  binding: unknown,
  meta: CallMeta = {},
): Promise<User> {
  check(admin);
  const parsed = parseInput(UserCreate, input, 'user');
  const bind = binding === undefined ? undefined : parseInput(RoleBindingInput, binding, 'role binding');
  const email = parsed.email.toLowerCase();
  const t = trailFacts(admin, meta);
  const taken = () =>
    new AppError(
      'conflict',
      `a user with the handle "${parsed.handle}" or the e-mail ${email} already exists`,
      {
        details: { handle: parsed.handle },
      },
    );
  try {
    return await withTx(deps.sql, async (tx) => {
      if ((await getUserByHandle(tx, parsed.handle)) || (await getUserByEmail(tx, email))) throw taken();
      const user = await insertUser(tx, {
        handle: parsed.handle,
        displayName: parsed.displayName ?? email,
        email,
      });
      await addIdentity(tx, { userId: user.id, platform: 'email', externalId: email, email, verified: true });
      await recordEvent(tx, deps, {
        actor: t.actor,
        action: 'user.created',
        subject: { type: 'user', id: user.handle },
        data: { ...t.facts, handle: user.handle, displayName: user.displayName, email },
        requestId: t.requestId,
      });
      if (bind) await applyBinding(tx, deps, admin, user, bind, true, t);
      return user;
    });
  } catch (error) {
    if (pgErrorCode(error) === '23505') throw taken();
    throw error;
  }
}

async function changeBinding(
  deps: Deps,
  admin: UserAdmin,
  input: { handle: string; binding: unknown },
  bind: boolean,
  meta: CallMeta,
): Promise<void> {
  check(admin);
  const handle = parseInput(UserHandle, input.handle, 'user handle');
  const binding = parseInput(RoleBindingInput, input.binding, 'role binding');
  const t = trailFacts(admin, meta);
  await withTx(deps.sql, async (tx) => {
    const user = await userOrNotFound(tx, handle);
    await applyBinding(tx, deps, admin, user, binding, bind, t);
  });
}

async function applyBinding(
  tx: Tx,
  deps: Deps,
  admin: UserAdmin,
  user: User,
  binding: RoleBindingInput,
  bind: boolean,
  t: ReturnType<typeof trailFacts>,
): Promise<void> {
  const projectId = await projectIdOf(tx, binding.project);
  const key = { userId: user.id, role: binding.role, projectId };
  const exists = await hasBinding(tx, key);
  if (exists === bind) return; // nothing changes, nothing to record
  if (bind) await bindRole(tx, { ...key, grantedBy: admin === 'cli' ? null : admin.user.id });
  else await unbindRole(tx, key);
  await recordEvent(tx, deps, {
    actor: t.actor,
    action: bind ? 'user.role-bound' : 'user.role-unbound',
    subject: { type: 'user', id: user.handle },
    projectId,
    data: { ...t.facts, handle: user.handle, role: binding.role, project: binding.project ?? null },
    requestId: t.requestId,
  });
}

/** Bind a role, on one project or (no project) everywhere. Binding twice changes nothing. */
export function bindUserRole(
  deps: Deps,
  admin: UserAdmin,
  input: { handle: string } & RoleBindingInput,
  meta: CallMeta = {},
): Promise<void> {
  const { handle, ...binding } = input;
  return changeBinding(deps, admin, { handle, binding }, true, meta);
}

export function unbindUserRole(
  deps: Deps,
  admin: UserAdmin,
  input: { handle: string } & RoleBindingInput,
  meta: CallMeta = {},
): Promise<void> {
  const { handle, ...binding } = input;
  return changeBinding(deps, admin, { handle, binding }, false, meta);
}

export async function listUsers(deps: Deps, admin: UserAdmin): Promise<UserWithBindings[]> {
  check(admin);
  return listUsersWithBindings(deps.sql);
}

/** A disabled user can do nothing (RBAC refuses every permission); their bindings stay for the record. */
export async function disableUser(
  deps: Deps,
  admin: UserAdmin,
  input: { handle: string },
  meta: CallMeta = {},
): Promise<User> {
  check(admin);
  const handle = parseInput(UserHandle, input.handle, 'user handle');
  if (admin !== 'cli' && admin.user.handle === handle) {
    throw new AppError('bad_request', 'you cannot disable yourself; ask another admin');
  }
  const t = trailFacts(admin, meta);
  return withTx(deps.sql, async (tx) => {
    const user = await userOrNotFound(tx, handle);
    if (user.disabled) return user;
    await setUserDisabled(tx, user.id, true);
    await recordEvent(tx, deps, {
      actor: t.actor,
      action: 'user.disabled',
      subject: { type: 'user', id: user.handle },
      data: { ...t.facts, handle: user.handle },
      requestId: t.requestId,
    });
    return { ...user, disabled: true };
  });
}
