import type {
  CloudAdapter,
  Request as SdkRequest,
  TurnContext,
  WebResponse,
} from '@microsoft/agents-hosting';
import { Hono } from 'hono';
import type { Logger } from '../../lib/logger.js';
import { isAllowedServiceUrl } from './auth.js';
import type { TeamsConfig } from './config.js';
import { activityTenant, TeamsActivity } from './parse.js';

/**
 * The bot endpoint: hono on one side, the Agents SDK's Express-shaped request/response on the
 * other. Order matters: the SDK's `process` does not check the token, so `authorizeRequest`
 * runs first, on the headers alone; only an authenticated request has its body read as an
 * activity. Warden then adds the checks the SDK leaves loose (the serviceurl claim must name the
 * activity's exact origin, the origin must be allowed, the activity must come from our tenant)
 * before anything is stored or run. Refusals are 401 or 400 with a JSON reason, never a 500.
 */
export interface BridgeOptions {
  adapter: CloudAdapter;
  config: TeamsConfig;
  log: Logger;
  onActivity(ctx: TurnContext, activity: TeamsActivity): Promise<void>;
}

const MAX_BODY_BYTES = 256 * 1024;

class CapturedResponse implements WebResponse {
  statusCode = 200;
  body: unknown = undefined;
  headers: Record<string, string> = {};
  headersSent = false;
  writableEnded = false;
  status(code: number): this {
    this.statusCode = code;
    return this;
  }
  setHeader(name: string, value: string): this {
    this.headers[name.toLowerCase()] = value;
    return this;
  }
  send(body?: unknown): this {
    this.body = body;
    return this;
  }
  end(): this {
    this.writableEnded = true;
    return this;
  }
  toResponse(): Response {
    if (this.body === undefined || this.body === null) return new Response(null, { status: this.statusCode });
    const text = typeof this.body === 'string' ? this.body : JSON.stringify(this.body);
    return new Response(text, {
      status: this.statusCode,
      headers: { 'content-type': 'application/json; charset=utf-8', ...this.headers },
    });
  }
}

function refuse(status: 400 | 401 | 413 | 415, reason: string): Response {
  return new Response(JSON.stringify({ error: reason }), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
  });
}

function originOf(url: unknown): string | undefined {
  if (typeof url !== 'string') return undefined;
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/** `POST /api/messages`, mounted at the app root. */
export function createTeamsRoutes(options: BridgeOptions): Hono {
  const { adapter, config, log } = options;
  const app = new Hono();

  app.post('/api/messages', async (c) => {
    const length = Number(c.req.header('content-length') ?? '0');
    if (length > MAX_BODY_BYTES) return refuse(413, 'activity too large');
    const raw = await c.req.text();
    if (Buffer.byteLength(raw, 'utf8') > MAX_BODY_BYTES) return refuse(413, 'activity too large');

    const req: SdkRequest = {
      method: 'POST',
      headers: { authorization: c.req.header('authorization') },
      body: {},
    };
    const auth = new CapturedResponse();
    let authorized = false;
    try {
      await adapter.authorizeRequest(req, auth, () => {
        authorized = true;
      });
    } catch (err) {
      log.warn({ err: String(err) }, 'Teams token check failed');
      return refuse(401, 'unauthorized');
    }
    if (!authorized) {
      log.warn({ status: auth.statusCode }, 'Teams request refused: bad or missing token');
      return refuse(auth.statusCode === 401 ? 401 : 400, 'unauthorized');
    }

    if (!(c.req.header('content-type') ?? '').toLowerCase().startsWith('application/json')) {
      return refuse(415, 'activities are JSON');
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return refuse(400, 'body is not JSON');
    }
    const parsed = TeamsActivity.safeParse(json);
    if (!parsed.success)
      return refuse(400, `not a Teams activity (${parsed.error.issues[0]?.path.join('.') ?? 'shape'})`);
    const activity = parsed.data;
    if (activity.channelId !== 'msteams') return refuse(400, 'only Microsoft Teams activities are accepted');
    if (!isAllowedServiceUrl(config, activity.serviceUrl)) {
      log.warn(
        { serviceUrl: activity.serviceUrl.slice(0, 200) },
        'Teams activity with a serviceUrl outside TEAMS_ALLOWED_SERVICE_URLS',
      );
      return refuse(400, 'serviceUrl not allowed');
    }
    const claim = originOf(req.user?.serviceurl);
    if (!claim) return refuse(401, 'token does not name a serviceUrl');
    if (claim !== originOf(activity.serviceUrl)) {
      log.warn('Teams activity whose serviceUrl differs from its token');
      return refuse(400, 'serviceUrl does not match the token');
    }
    if (activityTenant(activity) !== config.tenantId) {
      log.warn({ tenant: activityTenant(activity)?.slice(0, 64) }, 'Teams activity from another tenant');
      return refuse(401, 'this bot serves one tenant only');
    }

    req.body = json as Record<string, unknown>;
    const res = new CapturedResponse();
    let started = false;
    try {
      await adapter.process(req, res, async (ctx) => {
        started = true;
        await options.onActivity(ctx, activity);
      });
    } catch (err) {
      if (!started) {
        log.warn({ err: String(err) }, 'Teams activity refused by the SDK');
        return refuse(400, 'activity refused');
      }
      log.error({ err }, 'Teams activity failed');
      return c.json({ error: 'Warden could not handle this activity; it was logged' }, 500);
    }
    return res.toResponse();
  });

  return app;
}
