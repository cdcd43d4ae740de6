import type { Actor } from '../../commands/rbac/authorize.js';
import type { Logger } from '../../lib/logger.js';

/**
 * What the HTTP middlewares put on a request's context. `requestId` and `log` are always set
 * (bot/http/request-id.ts); `actor` only behind the API's bearer auth (bot/api/auth.ts).
 */
export interface AppEnv {
  Variables: {
    requestId: string;
    log: Logger;
    actor: Actor;
  };
}
