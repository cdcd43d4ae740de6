import { Hono } from 'hono';
import type { Sql } from '../../storage/db.js';
import type { AppEnv } from './context.js';

/** What /readyz asks besides the database. Each check answers true when this replica can serve. */
export interface ReadinessOptions {
  /** The scheduler's "started and connected" flag. */
  scheduler?: () => boolean;
  /** More checks by name (Slack's socket, …). A throw counts as not ready. */
  extra?: Record<string, () => Promise<boolean> | boolean>;
  /** How long one check may take before it counts as failed (default 2,000 ms). */
  timeoutMs?: number;
}

type Check = () => Promise<boolean> | boolean;

async function runCheck(check: Check, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([Promise.resolve().then(check), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * /healthz answers 200 while the process can answer at all (the liveness probe: restart me if
 * not). /readyz answers 200 only when every dependency works (the readiness probe: send me no
 * traffic if not), and 503 naming the checks that failed. Neither needs authentication, so
 * neither says more than a check's name and whether it passed; the reason goes to the log.
 */
export function createHealthRoutes(sql: Sql, readiness: ReadinessOptions = {}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const timeoutMs = readiness.timeoutMs ?? 2_000;
  const checks: Record<string, Check> = {
    database: async () => {
      await sql`select 1`;
      return true;
    },
    ...(readiness.scheduler ? { scheduler: readiness.scheduler } : {}),
    ...readiness.extra,
  };

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/readyz', async (c) => {
    const names = Object.keys(checks);
    const results = await Promise.all(
      names.map(async (name) => {
        try {
          return await runCheck(checks[name]!, timeoutMs);
        } catch (err) {
          c.get('log').warn({ err, check: name }, 'readiness check failed');
          return false;
        }
      }),
    );
    const status: Record<string, 'ok' | 'failed'> = {};
    names.forEach((name, i) => {
      status[name] = results[i] ? 'ok' : 'failed';
    });
    const failed = names.filter((_, i) => !results[i]);
    if (failed.length > 0) return c.json({ status: 'unready', failed, checks: status }, 503);
    return c.json({ status: 'ready', checks: status }, 200);
  });

  return app;
}
