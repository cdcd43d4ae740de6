import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from '../../bot/http/context.js';
import type { Deps } from '../../commands/deps.js';
import { AppError } from '../../lib/errors.js';
import { handleTicketClosed, type TicketClosedResult } from './closed.js';
import type { JiraConfig, ServiceNowConfig, TicketsConfig } from './config.js';
import { JiraWebhook } from './jira/schema.js';
import { describeState, tableForKey } from './servicenow/index.js';
import { ServiceNowCallback } from './servicenow/schema.js';

/**
 * Inbound calls from the ticket system, mounted at the root by bot/main.ts:
 *
 *   POST /hooks/jira         a Jira webhook (jira:issue_updated, jira:issue_deleted), signed with
 *                            HMAC-SHA256 in X-Hub-Signature (`sha256=<hex>`), or carrying the
 *                            secret as `?secret=` where the Jira (older Data Center) cannot sign
 *   POST /hooks/servicenow   the business rule in servicenow/README.md, `Authorization: Bearer <token>`
 *
 * Authentication comes first and touches nothing: a call that fails it is answered 401 before
 * its body is even parsed. Secrets are compared in constant time.
 */
const MAX_BODY = 1024 * 1024;

function sha256(value: string | Buffer): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Constant-time equality of two strings of any lengths (hashing first evens the lengths). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

/** Is `header` Jira's `sha256=<hex>` HMAC of `body` under `secret`? */
export function validJiraSignature(secret: string, body: string, header: string | undefined): boolean {
  if (!header) return false;
  const match = /^sha256=([0-9a-f]{64})$/i.exec(header.trim());
  if (!match) return false;
  const expected = createHmac('sha256', secret).update(body, 'utf8').digest();
  return timingSafeEqual(expected, Buffer.from(match[1]!, 'hex'));
}

function refuse(message: string): AppError {
  return new AppError('unauthenticated', message);
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    throw new AppError('bad_request', 'the body is not JSON');
  }
}

interface Outcome {
  action: 'ignored' | 'handled';
  reason?: string;
  result?: TicketClosedResult;
}

function same(a: string, b: string): boolean {
  return a.localeCompare(b, undefined, { sensitivity: 'accent' }) === 0;
}

async function onJira(
  deps: Deps,
  config: JiraConfig,
  body: string,
  deliveryHeader: string | undefined,
): Promise<Outcome> {
  const parsed = JiraWebhook.safeParse(parseJson(body));
  if (!parsed.success)
    throw new AppError('bad_request', 'this is not a Jira issue webhook Warden understands');
  const hook = parsed.data;
  if (!hook.issue) return { action: 'ignored', reason: 'no issue in the payload' };
  const deliveryId =
    deliveryHeader?.trim() ||
    `${hook.issue.id ?? hook.issue.key}:${hook.changelog?.id ?? hook.timestamp ?? sha256(body).toString('hex')}`;
  const by = hook.user?.displayName ?? hook.user?.accountId ?? null;
  if (hook.webhookEvent === 'jira:issue_deleted') {
    const result = await handleTicketClosed(deps, {
      system: 'jira',
      key: hook.issue.key,
      status: 'deleted',
      by,
      deliveryId,
    });
    return { action: 'handled', result };
  }
  if (hook.webhookEvent !== 'jira:issue_updated') return { action: 'ignored', reason: hook.webhookEvent };
  const change = hook.changelog?.items.find((i) => i.field.toLowerCase() === 'status');
  if (!change) return { action: 'ignored', reason: 'no status change' };
  const status = hook.issue.fields?.status;
  const name = status?.name ?? change.toString ?? '';
  const closing = status?.statusCategory?.key === 'done' || config.cancelStatuses.some((s) => same(s, name));
  if (!closing) return { action: 'ignored', reason: `moved to ${name}, which is not a closing status` };
  const result = await handleTicketClosed(deps, {
    system: 'jira',
    key: hook.issue.key,
    status: name,
    by,
    deliveryId,
  });
  return { action: 'handled', result };
}

async function onServiceNow(deps: Deps, body: string): Promise<Outcome> {
  const parsed = ServiceNowCallback.safeParse(parseJson(body));
  if (!parsed.success)
    throw new AppError('bad_request', 'this is not the callback the Warden business rule sends');
  const call = parsed.data;
  const key = call.number.trim().toUpperCase();
  const table = call.table ?? tableForKey(key) ?? '';
  const [stateName, category] = describeState(table, { state: call.state, active: call.active });
  const rejected = call.approval?.toLowerCase() === 'rejected';
  if (!rejected && category !== 'done') return { action: 'ignored', reason: `moved to ${stateName}` };
  const deliveryId = `${key}:${call.sys_mod_count ?? sha256(body).toString('hex')}`;
  const result = await handleTicketClosed(deps, {
    system: 'servicenow',
    key,
    status: rejected ? 'Rejected' : stateName,
    by: call.updated_by ?? null,
    deliveryId,
  });
  return { action: 'handled', result };
}

function jiraAuthentic(
  config: JiraConfig,
  body: string,
  signature: string | undefined,
  querySecret: string | undefined,
) {
  const secret = config.webhookSecret;
  if (!secret) return false;
  return (
    validJiraSignature(secret, body, signature) ||
    (querySecret !== undefined && safeEqual(querySecret, secret))
  );
}

function serviceNowAuthentic(config: ServiceNowConfig, authorization: string | undefined): boolean {
  const token = config.inboundToken;
  const presented = /^Bearer\s+(\S+)$/i.exec(authorization?.trim() ?? '')?.[1];
  return Boolean(token && presented && safeEqual(presented, token));
}

/**
 * The inbound routes for the configured system (none for TICKETS_SYSTEM=none).
 *
 * @example
 * mounts.push({ path: '/', app: createTicketHooks(deps, config.tickets) });
 */
export function createTicketHooks(deps: Deps, config: TicketsConfig): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const limit = bodyLimit({
    maxSize: MAX_BODY,
    onError: () => {
      throw new AppError('bad_request', 'the body is larger than 1 MB');
    },
  });
  if (config.system === 'jira') {
    const jira = config.jira;
    app.post('/hooks/jira', limit, async (c) => {
      const body = await c.req.text();
      if (!jira.webhookSecret) {
        throw refuse('this Warden has no JIRA_WEBHOOK_SECRET, so it accepts no Jira webhooks; set one');
      }
      if (!jiraAuthentic(jira, body, c.req.header('x-hub-signature'), c.req.query('secret'))) {
        throw refuse('the Jira webhook signature (X-Hub-Signature) or secret is missing or wrong');
      }
      return c.json(await onJira(deps, jira, body, c.req.header('x-atlassian-webhook-identifier')));
    });
  }
  if (config.system === 'servicenow') {
    const snow = config.servicenow;
    app.post('/hooks/servicenow', limit, async (c) => {
      const body = await c.req.text();
      if (!snow.inboundToken) {
        throw refuse(
          'this Warden has no SERVICENOW_INBOUND_TOKEN, so it accepts no ServiceNow callbacks; set one',
        );
      }
      if (!serviceNowAuthentic(snow, c.req.header('authorization'))) {
        throw refuse('the bearer token is missing or wrong');
      }
      return c.json(await onServiceNow(deps, body));
    });
  }
  return app;
}
