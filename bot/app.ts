import { Hono } from 'hono';
import type { Deps } from '../commands/deps.js';
import { createApi } from './api/index.js';
import type { AppEnv } from './http/context.js';
import { createErrorHandler, notFound } from './http/errors.js';
import { createHealthRoutes, type ReadinessOptions } from './http/health.js';
import { requestId } from './http/request-id.js';
import { createChatImageRoutes } from './teams/images.js';

/**
 * The HTTP front door. Every route group is mounted here; each lives in its own folder and
 * only translates HTTP to commands/ calls.
 *
 * Mount points:
 *   /healthz, /readyz      bot/http/health.ts
 *   /api/v1/…              bot/api/
 *   / and /console/…       bot/console/   (when the console is enabled)
 *   /slack/events          bot/slack/     (Slack issue)
 *   /api/messages          bot/teams/     (Teams issue)
 *   /images/{id}.png       bot/teams/images.ts (charts linked from Teams cards)
 */
export interface AppOptions {
  deps: Deps;
  /**
   * Extra route groups mounted by main.ts (console, Slack, Teams) as they are enabled. A group
   * may be a plain Hono, or a Hono<AppEnv> that reads the request id, logger and actor.
   */
  mounts?: { path: string; app: Hono | Hono<AppEnv> }[];
  /** What /readyz checks besides the database. */
  readiness?: ReadinessOptions;
}

/**
 * Every request gets a request id (echoed as X-Request-Id) and a logger carrying it; every error
 * becomes the JSON error body (bot/http/errors.ts); unknown /api/ paths get a JSON 404.
 *
 * @example
 * const app = createApp({ deps, mounts: [{ path: '/', app: consoleApp }], readiness: { scheduler: () => jobs.ready } });
 * serve({ fetch: app.fetch, port: config.port });
 */
export function createApp(options: AppOptions): Hono<AppEnv> {
  const { deps } = options;
  const app = new Hono<AppEnv>();
  app.use('*', requestId(deps.log));
  app.onError(createErrorHandler(deps.log));
  app.notFound(notFound);
  app.route('/', createHealthRoutes(deps.sql, options.readiness));
  app.route('/api/v1', createApi(deps));
  app.route('/', createChatImageRoutes(deps));
  for (const m of options.mounts ?? []) app.route(m.path, m.app as Hono<AppEnv>);
  return app;
}
