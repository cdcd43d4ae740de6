import { Hono } from 'hono';
import type { Deps } from '../commands/deps.js';

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
 */
export interface AppOptions {
  deps: Deps;
  /** Extra route groups mounted by main.ts (console, Slack, Teams) as they are enabled. */
  mounts?: { path: string; app: Hono }[];
}

export function createApp(options: AppOptions): Hono {
  const app = new Hono();
  for (const m of options.mounts ?? []) app.route(m.path, m.app);
  return app;
}
