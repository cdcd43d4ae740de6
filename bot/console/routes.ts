import { randomBytes } from 'node:crypto';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { z } from 'zod';
import type { Deps } from '../../commands/deps.js';
import type { Registry } from '../../commands/registry.js';
import { listConsoleChannels, listConsoleMessages, listConsoleUsers } from '../../storage/console.js';
import { findUserByIdentity } from '../../storage/users.js';
import type { AppEnv } from '../http/context.js';
import { errorResponse } from '../http/errors.js';
import { consolePage } from './page.js';
import { type ConsoleContext, consoleAction, consoleCommand, consoleForm, toView } from './service.js';

/**
 * The local web console: one page that behaves like a chat channel, and the JSON endpoints it
 * calls. Whoever opens it picks who they are, so it is for one machine only: it answers only
 * on loopback host names (a guard against DNS rebinding) and only to JSON posts (which a
 * foreign web page cannot send without a CORS preflight that is never granted).
 */
export interface ConsoleRoutesOptions {
  deps: Deps;
  registry: Registry;
  /** Host names the console answers on; default localhost, 127.0.0.1, ::1 and the public URL's host. */
  allowedHosts?: readonly string[];
}

const handle = z
  .string({ error: 'as must be a user handle' })
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'as must be a user handle such as alice');
const channel = z
  .string({ error: 'channel is required' })
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'channel must be a console channel name such as general');
const requestId = z
  .string()
  .regex(/^[A-Za-z0-9-]{8,64}$/, 'requestId must be 8-64 letters, digits or dashes');
const messageId = z.string().regex(/^\d{1,15}$/, 'messageId must be a console message id');

const CommandBody = z.object({
  as: handle,
  channel,
  text: z.string().min(1, 'text is empty: type a message or /warden help').max(20_000, 'text is too long'),
  requestId: requestId.optional(),
});
const ActionBody = z.object({
  as: handle,
  channel,
  actionId: z.string().min(1).max(255),
  value: z.string().max(2000),
  messageId,
  requestId: requestId.optional(),
});
const FormBody = z.object({
  as: handle,
  channel,
  formId: z.string().min(1).max(255),
  values: z
    .record(z.string().max(64), z.string().max(4000))
    .refine((v) => Object.keys(v).length <= 50, 'a form has at most 50 fields'),
  state: z.string().max(3000).optional(),
  messageId: messageId.optional(),
  requestId: requestId.optional(),
});
const MessagesQuery = z.object({
  channel,
  as: handle.optional().or(z.literal('').transform(() => undefined)),
  after: z
    .string()
    .refine((s) => !Number.isNaN(Date.parse(s)), 'after must be a timestamp from a previous answer')
    .optional(),
});

/** Changes committed slightly out of order must not slip behind the cursor, so each poll looks back a little. */
const POLL_OVERLAP_MS = 3000;

/** The app's standard JSON error body (bot/http/errors.ts), request id included. */
function jsonError(
  c: Context<AppEnv>,
  status: 400 | 403 | 404 | 415,
  code: 'bad_request' | 'forbidden' | 'not_found',
  message: string,
): Response {
  return errorResponse(c, status, code, message);
}

async function readJson<T>(
  c: Context<AppEnv>,
  schema: z.ZodType<T>,
): Promise<{ data: T } | { error: Response }> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/json\b/i.test(type)) {
    return {
      error: jsonError(c, 415, 'bad_request', 'send the body as JSON (Content-Type: application/json)'),
    };
  }
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    return { error: jsonError(c, 400, 'bad_request', 'the body is not valid JSON') };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
    return { error: jsonError(c, 400, 'bad_request', `${where}${issue.message}`) };
  }
  return { data: parsed.data };
}

function defaultHosts(deps: Deps): string[] {
  const hosts = ['localhost', '127.0.0.1', '[::1]', '::1'];
  try {
    hosts.push(new URL(deps.config.publicUrl).hostname);
  } catch {
    // a bad public URL is reported by config validation, not here
  }
  return hosts;
}

/**
 * @example
 *   createApp({ deps, mounts: [{ path: '/', app: createConsoleRoutes({ deps, registry }) }] });
 */
export function createConsoleRoutes(options: ConsoleRoutesOptions): Hono<AppEnv> {
  const { deps } = options;
  const ctx: ConsoleContext = { deps, registry: options.registry };
  const allowed = new Set((options.allowedHosts ?? defaultHosts(deps)).map((h) => h.toLowerCase()));
  const app = new Hono<AppEnv>();

  // Only the console's own paths: this app is mounted at '/', and a '*' guard would also
  // catch the Slack, Teams and API routes of the parent app.
  const loopbackOnly: MiddlewareHandler<AppEnv> = async (c, next) => {
    const host = new URL(c.req.url).hostname.toLowerCase();
    if (!allowed.has(host)) {
      return jsonError(c, 403, 'forbidden', `the console only answers on ${[...allowed].join(', ')}`);
    }
    await next();
    return undefined;
  };
  app.use('/', loopbackOnly);
  app.use('/console/*', loopbackOnly);

  app.get('/', (c) => {
    const nonce = randomBytes(16).toString('base64');
    c.header(
      'Content-Security-Policy',
      `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    );
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('Cache-Control', 'no-store');
    return c.html(consolePage(nonce));
  });

  app.get('/console/api/users', async (c) => {
    const users = await listConsoleUsers(deps.sql);
    return c.json({ users: users.map((u) => ({ handle: u.handle, displayName: u.displayName })) });
  });

  app.get('/console/api/channels', async (c) => c.json({ channels: await listConsoleChannels(deps.sql) }));

  app.get('/console/api/messages', async (c) => {
    const parsed = MessagesQuery.safeParse(c.req.query());
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return jsonError(c, 400, 'bad_request', `${issue.path.join('.')}: ${issue.message}`);
    }
    const q = parsed.data;
    const viewer = q.as ? await findUserByIdentity(deps.sql, 'console', q.as) : undefined;
    const after = q.after ? new Date(q.after) : undefined;
    const rows = await listConsoleMessages(deps.sql, {
      channel: q.channel,
      viewerId: viewer?.id ?? null,
      changedSince: after ? new Date(after.getTime() - POLL_OVERLAP_MS) : undefined,
      limit: after ? 500 : 200,
    });
    let cursor = after ?? new Date(0);
    for (const r of rows) if (r.updatedAt > cursor) cursor = r.updatedAt;
    return c.json({ messages: rows.map(toView), cursor: cursor.toISOString() });
  });

  app.post('/console/api/command', async (c) => {
    const body = await readJson(c, CommandBody);
    if ('error' in body) return body.error;
    return c.json({ messages: await consoleCommand(ctx, body.data) });
  });

  app.post('/console/api/action', async (c) => {
    const body = await readJson(c, ActionBody);
    if ('error' in body) return body.error;
    const messages = await consoleAction(ctx, body.data);
    if (!messages)
      return jsonError(c, 404, 'not_found', 'that message is not in this channel (or not yours to see)');
    return c.json({ messages });
  });

  app.post('/console/api/form', async (c) => {
    const body = await readJson(c, FormBody);
    if ('error' in body) return body.error;
    const messages = await consoleForm(ctx, body.data);
    if (!messages)
      return jsonError(c, 404, 'not_found', 'that form is not in this channel (or not yours to see)');
    return c.json({ messages });
  });

  return app;
}
