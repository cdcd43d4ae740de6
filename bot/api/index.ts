import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Deps } from '../../commands/deps.js';
import type { AppEnv } from '../http/context.js';
import { errorResponse } from '../http/errors.js';
import { buildOpenApiDocument } from './openapi.js';
import { type ApiRoute, honoPath } from './registry.js';
import { accessRoutes } from './routes/access.js';
import { accountRoutes } from './routes/accounts.js';
import { approvalRoutes } from './routes/approvals.js';
import { auditRoutes } from './routes/audit.js';
import { baselineRoutes } from './routes/baselines.js';
import { inventoryRoutes } from './routes/inventory.js';
import { keyRoutes } from './routes/keys.js';
import { patchingRoutes } from './routes/patching.js';
import { reportRoutes } from './routes/reports.js';
import { scanningRoutes } from './routes/scanning.js';
import { scriptRoutes } from './routes/scripts.js';
import { serviceKeyRoutes } from './routes/service-keys.js';
import { settingsRoutes } from './routes/settings.js';
import { tokenRoutes } from './routes/tokens.js';
import { userRoutes } from './routes/users.js';
import { webhookRoutes } from './routes/webhooks.js';

/** Every route of /api/v1, in the order the document lists them. */
export const API_ROUTES: readonly ApiRoute[] = [
  ...inventoryRoutes,
  ...accountRoutes,
  ...auditRoutes,
  ...tokenRoutes,
  ...scanningRoutes,
  ...patchingRoutes,
  ...accessRoutes,
  ...keyRoutes,
  ...approvalRoutes,
  ...scriptRoutes,
  ...webhookRoutes,
  ...reportRoutes,
  ...baselineRoutes,
  ...userRoutes,
  ...settingsRoutes,
  ...serviceKeyRoutes,
];

/** Request bodies above this are refused before they are read (an import of ~10,000 servers fits). */
export const MAX_BODY_BYTES = 5 * 1024 * 1024;

/**
 * The REST API, mounted at /api/v1 by createApp. GET /openapi.json is public; every other route
 * needs a bearer token (see bot/api/auth.ts).
 *
 * @example
 * app.route('/api/v1', createApi(deps));
 */
export function createApi(deps: Deps, routes: readonly ApiRoute[] = API_ROUTES): Hono<AppEnv> {
  const api = new Hono<AppEnv>();
  const document = buildOpenApiDocument(routes, {
    title: 'Warden',
    version: '1',
    serverUrl: `${deps.config.publicUrl.replace(/\/$/, '')}/api/v1`,
  });
  api.use(
    '*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) =>
        errorResponse(
          c,
          413,
          'bad_request',
          `the body is larger than ${MAX_BODY_BYTES / 1024 / 1024} MB; send it in parts`,
        ),
    }),
  );
  api.get('/openapi.json', (c) => c.json(document));
  for (const route of routes) {
    api.on(route.method.toUpperCase(), honoPath(route.path), (c) => route.handle(c, deps));
  }
  return api;
}
