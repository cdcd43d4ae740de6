import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../../lib/logger.js';
import type { AppEnv } from './context.js';

export const REQUEST_ID_HEADER = 'X-Request-Id';

/** What an incoming id may look like: short, and nothing that could forge a log line or a header. */
const SANE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * Give every request an id: a sane incoming `X-Request-Id` (set by a proxy or the caller) is kept
 * so one id follows the request across systems; anything else is replaced by a fresh UUID. The id
 * is echoed on the response, and the request's logger carries it.
 */
export function requestId(log: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const incoming = c.req.header(REQUEST_ID_HEADER);
    const id = incoming && SANE_ID.test(incoming) ? incoming : randomUUID();
    c.set('requestId', id);
    c.set('log', log.child({ requestId: id }));
    c.header(REQUEST_ID_HEADER, id);
    await next();
    // A handler may have returned a Response of its own; make sure the id is on what goes out.
    c.header(REQUEST_ID_HEADER, id);
  };
}
