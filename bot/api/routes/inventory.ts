import { z } from 'zod';
import { importInventory } from '../../../commands/inventory/import.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../../../commands/inventory/paging.js';
import {
  createProject,
  getProject,
  listProjects,
  updateProject,
} from '../../../commands/inventory/projects.js';
import {
  ImportDocument,
  ProjectCreate,
  ProjectPatch,
  ProjectSlug,
  ServerCreate,
  ServerName,
  ServerPatch,
} from '../../../commands/inventory/schema.js';
import {
  createServer,
  deleteServer,
  getServer,
  listServers,
  updateServer,
} from '../../../commands/inventory/servers.js';
import { PROVIDERS } from '../../../storage/inventory.js';
import { type ApiRoute, defineRoute } from '../registry.js';
import { ImportResultView, ProjectView, pageOf, projectView, ServerView, serverView } from '../views.js';

const SlugParam = z.object({ slug: ProjectSlug });
const NameParam = z.object({ name: ServerName });

const Limit = z.coerce
  .number()
  .int()
  .min(1)
  .max(MAX_PAGE_SIZE)
  .optional()
  .describe(`page size (default ${DEFAULT_PAGE_SIZE}, at most ${MAX_PAGE_SIZE})`);
const Cursor = z.string().max(600).optional().describe('the nextCursor of the previous page');

const ServerQuery = z
  .object({
    project: ProjectSlug.optional(),
    tag: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}(=[^\p{Cc}]{0,256})?$/u, 'tag is key or key=value')
      .optional()
      .describe('key, or key=value'),
    provider: z.enum(PROVIDERS).optional(),
    limit: Limit,
    cursor: Cursor,
  })
  .strict();

export const inventoryRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/projects',
    operationId: 'listProjects',
    summary: 'List the projects you may read, with their server counts',
    tag: 'inventory',
    permission: 'inventory:read',
    response: z.object({ items: z.array(ProjectView) }),
    handler: async ({ deps, actor }) => ({
      items: (await listProjects({}, deps, actor)).map(projectView),
    }),
  }),
  defineRoute({
    method: 'post',
    path: '/projects',
    operationId: 'createProject',
    summary: 'Create a project (needs inventory:write globally)',
    tag: 'inventory',
    permission: 'inventory:write',
    body: ProjectCreate,
    response: ProjectView,
    status: 201,
    handler: async ({ body, deps, actor, meta }) => projectView(await createProject(body, deps, actor, meta)),
  }),
  defineRoute({
    method: 'get',
    path: '/projects/{slug}',
    operationId: 'getProject',
    summary: 'One project',
    tag: 'inventory',
    permission: 'inventory:read',
    params: SlugParam,
    response: ProjectView,
    handler: async ({ params, deps, actor }) =>
      projectView(await getProject({ slug: params.slug }, deps, actor)),
  }),
  defineRoute({
    method: 'patch',
    path: '/projects/{slug}',
    operationId: 'updateProject',
    summary: 'Change a project; fields left out stay as they are',
    tag: 'inventory',
    permission: 'inventory:write',
    params: SlugParam,
    body: ProjectPatch,
    response: ProjectView,
    handler: async ({ params, body, deps, actor, meta }) =>
      projectView(await updateProject({ slug: params.slug, patch: body }, deps, actor, meta)),
  }),
  defineRoute({
    method: 'get',
    path: '/servers',
    operationId: 'listServers',
    summary: 'List servers you may read, by name, a page at a time',
    tag: 'inventory',
    permission: 'inventory:read',
    query: ServerQuery,
    response: pageOf(ServerView),
    handler: async ({ query, deps, actor }) => {
      const page = await listServers(query, deps, actor);
      return { items: page.items.map(serverView), nextCursor: page.nextCursor };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/servers',
    operationId: 'createServer',
    summary: 'Add a server (needs inventory:write on its project)',
    tag: 'inventory',
    permission: 'inventory:write',
    body: ServerCreate,
    response: ServerView,
    status: 201,
    handler: async ({ body, deps, actor, meta }) => serverView(await createServer(body, deps, actor, meta)),
  }),
  defineRoute({
    method: 'get',
    path: '/servers/{name}',
    operationId: 'getServer',
    summary: 'One server',
    tag: 'inventory',
    permission: 'inventory:read',
    params: NameParam,
    response: ServerView,
    handler: async ({ params, deps, actor }) =>
      serverView(await getServer({ name: params.name }, deps, actor)),
  }),
  defineRoute({
    method: 'patch',
    path: '/servers/{name}',
    operationId: 'updateServer',
    summary:
      'Change a server; fields left out stay as they are (moving it needs inventory:write on both projects)',
    tag: 'inventory',
    permission: 'inventory:write',
    params: NameParam,
    body: ServerPatch,
    response: ServerView,
    handler: async ({ params, body, deps, actor, meta }) =>
      serverView(await updateServer({ name: params.name, patch: body }, deps, actor, meta)),
  }),
  defineRoute({
    method: 'delete',
    path: '/servers/{name}',
    operationId: 'deleteServer',
    summary: 'Remove a server from the inventory',
    tag: 'inventory',
    permission: 'inventory:write',
    params: NameParam,
    response: null,
    handler: async ({ params, deps, actor, meta }) => {
      await deleteServer({ name: params.name }, deps, actor, meta);
    },
  }),
  defineRoute({
    method: 'post',
    path: '/inventory/import',
    operationId: 'importInventory',
    summary: 'Create or update projects and servers from one JSON or YAML document, all or nothing',
    description:
      'Entries are matched by project slug and server name; fields an entry leaves out stay as they are, so ' +
      're-importing the same document changes nothing. Any bad entry fails the whole import with a 400 that lists ' +
      'every problem (details.issues: section, index, field, message), and nothing is written.',
    tag: 'inventory',
    permission: 'inventory:write',
    body: ImportDocument,
    bodyFormats: ['json', 'yaml'],
    response: ImportResultView,
    handler: async ({ body, deps, actor, meta }) => importInventory(body, deps, actor, meta),
  }),
];
