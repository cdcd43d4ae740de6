import { z } from 'zod';
import { UserHandle } from '../../../commands/inventory/schema.js';
import { ROLES } from '../../../commands/rbac/roles.js';
import {
  bindUserRole,
  createUser,
  disableUser,
  listUsers,
  RoleBindingInput,
  UserCreate,
  unbindUserRole,
} from '../../../commands/users/users.js';
import type { User } from '../../../storage/users.js';
import { type ApiRoute, defineRoute } from '../registry.js';

const HandleParam = z.object({ handle: UserHandle });

export const UserView = z.object({
  handle: z.string(),
  displayName: z.string(),
  email: z.string().nullable(),
  disabled: z.boolean(),
  bindings: z.array(z.object({ role: z.enum(ROLES), project: z.string().nullable() })),
});

function userView(user: User, bindings: z.input<typeof UserView>['bindings'] = []): z.input<typeof UserView> {
  return {
    handle: user.handle,
    displayName: user.displayName,
    email: user.email,
    disabled: user.disabled,
    bindings,
  };
}

async function viewOf(
  deps: Parameters<typeof listUsers>[0],
  actor: Parameters<typeof listUsers>[1],
  handle: string,
) {
  const user = (await listUsers(deps, actor)).find((u) => u.handle === handle);
  if (!user) throw new Error(`user ${handle} vanished after a change`);
  return userView(user, user.bindings);
}

export const userRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/users',
    operationId: 'listUsers',
    summary: 'List users with their role bindings (users:manage globally)',
    tag: 'users',
    permission: 'users:manage',
    response: z.object({ items: z.array(UserView) }),
    handler: async ({ deps, actor }) => ({
      items: (await listUsers(deps, actor)).map((u) => userView(u, u.bindings)),
    }),
  }),
  defineRoute({
    method: 'post',
    path: '/users',
    operationId: 'createUser',
    summary: 'Create a user (users:manage globally); bind roles with POST /users/{handle}/roles',
    tag: 'users',
    permission: 'users:manage',
    body: UserCreate,
    response: UserView,
    status: 201,
    handler: async ({ body, deps, actor, meta }) => userView(await createUser(deps, actor, body, meta)),
  }),
  defineRoute({
    method: 'post',
    path: '/users/{handle}/roles',
    operationId: 'bindUserRole',
    summary: 'Bind a role to a user, on one project or (no project) everywhere (users:manage globally)',
    tag: 'users',
    permission: 'users:manage',
    params: HandleParam,
    body: RoleBindingInput,
    response: UserView,
    handler: async ({ params, body, deps, actor, meta }) => {
      await bindUserRole(deps, actor, { handle: params.handle, ...body }, meta);
      return viewOf(deps, actor, params.handle);
    },
  }),
  defineRoute({
    method: 'delete',
    path: '/users/{handle}/roles',
    operationId: 'unbindUserRole',
    summary: 'Remove a role binding from a user (users:manage globally)',
    tag: 'users',
    permission: 'users:manage',
    params: HandleParam,
    body: RoleBindingInput,
    response: UserView,
    handler: async ({ params, body, deps, actor, meta }) => {
      await unbindUserRole(deps, actor, { handle: params.handle, ...body }, meta);
      return viewOf(deps, actor, params.handle);
    },
  }),
  defineRoute({
    method: 'post',
    path: '/users/{handle}/disable',
    operationId: 'disableUser',
    summary: 'Disable a user: every permission is refused from then on (users:manage globally)',
    tag: 'users',
    permission: 'users:manage',
    params: HandleParam,
    response: UserView,
    handler: async ({ params, deps, actor, meta }) => {
      await disableUser(deps, actor, { handle: params.handle }, meta);
      return viewOf(deps, actor, params.handle);
    },
  }),
];
