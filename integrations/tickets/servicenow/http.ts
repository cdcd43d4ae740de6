import type { z } from 'zod';
import { IntegrationError } from '../../../lib/errors.js';
import { httpError, networkError, parseRetryAfter } from '../common.js';
import type { ServiceNowConfig } from '../config.js';
import type { TicketDeps } from '../types.js';
import { ServiceNowErrorBody, ServiceNowToken } from './schema.js';

/**
 * HTTP to a ServiceNow instance over fetch: the auth header (basic, or an OAuth bearer token
 * fetched from /oauth_token.do and kept until shortly before it expires), JSON in and out, the
 * documented error body turned into Warden's errors.
 */
export interface ServiceNowHttp {
  call<S extends z.ZodType>(
    what: string,
    request: {
      method: 'GET' | 'POST' | 'PATCH';
      path: string;
      query?: Record<string, string>;
      body?: unknown;
    },
    schema: S,
  ): Promise<z.output<S>>;
}

const TIMEOUT_MS = 15_000;
/** Renew a token this long before ServiceNow says it expires. */
const TOKEN_MARGIN_MS = 60_000;

function errorDetail(data: unknown): string {
  const parsed = ServiceNowErrorBody.safeParse(data);
  if (!parsed.success) return typeof data === 'string' ? data.slice(0, 300) : '';
  const { message, detail } = parsed.data.error;
  return [message, detail].filter(Boolean).join(': ');
}

async function readJson(res: Response): Promise<unknown> {
  const text = await res.text();
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export function createServiceNowHttp(config: ServiceNowConfig, deps: TicketDeps): ServiceNowHttp {
  const doFetch = deps.fetch ?? fetch;
  const { auth } = config;
  let token: { value: string; until: number } | undefined;
  let pending: Promise<string> | undefined;

  async function send(url: string, init: RequestInit, what: string): Promise<Response> {
    try {
      return await doFetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch (error) {
      throw networkError('servicenow', what, error);
    }
  }

  async function fetchToken(): Promise<string> {
    if (auth.kind !== 'oauth') throw new Error('fetchToken without OAuth settings');
    const form = new URLSearchParams({ client_id: auth.clientId, client_secret: auth.clientSecret });
    if (auth.user && auth.password) {
      form.set('grant_type', 'password');
      form.set('username', auth.user);
      form.set('password', auth.password);
    } else {
      form.set('grant_type', 'client_credentials');
    }
    const what = 'get an OAuth token';
    const res = await send(
      `${config.url}/oauth_token.do`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form,
      },
      what,
    );
    const data = await readJson(res);
    if (!res.ok) {
      const described = data && typeof data === 'object' ? (data as Record<string, unknown>) : {};
      const detail = [described.error, described.error_description]
        .filter((v) => typeof v === 'string')
        .join(': ');
      throw httpError('servicenow', what, {
        status: res.status === 400 ? 401 : res.status,
        detail: detail || 'check SERVICENOW_CLIENT_ID/SECRET (and the user, for the password grant)',
        retryAfter: parseRetryAfter(res.headers.get('retry-after'), deps.clock.now()),
      });
    }
    const parsed = ServiceNowToken.safeParse(data);
    if (!parsed.success)
      throw new IntegrationError(
        'servicenow',
        'ServiceNow answered the token request without an access_token',
      );
    token = {
      value: parsed.data.access_token,
      until: deps.clock.now().getTime() + parsed.data.expires_in * 1000 - TOKEN_MARGIN_MS,
    };
    return token.value;
  }

  async function authorization(): Promise<string> {
    if (auth.kind === 'basic')
      return `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`;
    if (token && token.until > deps.clock.now().getTime()) return `Bearer ${token.value}`;
    // Calls that start together share one token request.
    pending ??= fetchToken().finally(() => {
      pending = undefined;
    });
    return `Bearer ${await pending}`;
  }

  return {
    async call(what, request, schema) {
      const url = new URL(`${config.url}${request.path}`);
      for (const [k, v] of Object.entries(request.query ?? {})) url.searchParams.set(k, v);
      const attempt = async () =>
        send(
          url.toString(),
          {
            method: request.method,
            headers: {
              authorization: await authorization(),
              accept: 'application/json',
              ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
            },
            body: request.body === undefined ? undefined : JSON.stringify(request.body),
          },
          what,
        );
      let res = await attempt();
      if (res.status === 401 && auth.kind === 'oauth' && token) {
        // A token revoked or expired early: fetch a new one once.
        token = undefined;
        await res.body?.cancel();
        res = await attempt();
      }
      const data = await readJson(res);
      if (!res.ok) {
        throw httpError('servicenow', what, {
          status: res.status,
          detail: errorDetail(data),
          retryAfter: parseRetryAfter(res.headers.get('retry-after'), deps.clock.now()),
        });
      }
      const parsed = schema.safeParse(data);
      if (!parsed.success) {
        throw new IntegrationError(
          'servicenow',
          `ServiceNow answered "${what}" in a shape Warden does not understand: ${parsed.error.issues[0]?.message}`,
        );
      }
      return parsed.data;
    },
  };
}
