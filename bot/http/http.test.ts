import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { describe, expect, it } from 'vitest';
import { AppError, type ErrorCode, IntegrationError } from '../../lib/errors.js';
import { createLogger } from '../../lib/logger.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps } from '../../test/deps.js';
import { createApp } from '../app.js';
import type { AppEnv } from './context.js';
import { createErrorHandler, type ErrorBody, STATUS_BY_CODE } from './errors.js';
import { requestId } from './request-id.js';

const db = useTestDatabase('http');

function captureLog() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger('info', {
    write: (msg: string) => lines.push(JSON.parse(msg) as Record<string, unknown>),
  });
  return { log, lines };
}

function appThrowing(error: unknown) {
  const { log, lines } = captureLog();
  const app = new Hono<AppEnv>();
  app.use('*', requestId(log));
  app.onError(createErrorHandler(log));
  app.get('/boom', () => {
    throw error;
  });
  return { app, lines };
}

describe('onError', () => {
  const expected: [ErrorCode, number][] = [
    ['bad_request', 400],
    ['unauthenticated', 401],
    ['forbidden', 403],
    ['not_found', 404],
    ['conflict', 409],
    ['already_decided', 409],
    ['expired', 410],
    ['rate_limited', 429],
    ['unavailable', 503],
    ['integration', 502],
    ['internal', 500],
  ];

  it('maps every AppError code to its status, with the JSON error body and the request id', async () => {
    expect(Object.keys(STATUS_BY_CODE).sort()).toEqual(expected.map(([c]) => c).sort());
    for (const [code, status] of expected) {
      const { app } = appThrowing(new AppError(code, `explained ${code}`, { details: { field: 'x' } }));
      const res = await app.request('/boom', { headers: { 'X-Request-Id': `req-${code}` } });
      expect(res.status, code).toBe(status);
      expect(await res.json()).toEqual({
        error: { code, message: `explained ${code}`, details: { field: 'x' }, requestId: `req-${code}` },
      });
      expect(res.headers.get('x-request-id')).toBe(`req-${code}`);
    }
  });

  it('adds WWW-Authenticate to 401s and Retry-After to integration errors that carry one', async () => {
    const unauth = await appThrowing(new AppError('unauthenticated', 'no')).app.request('/boom');
    expect(unauth.headers.get('www-authenticate')).toBe('Bearer realm="warden"');
    const slow = await appThrowing(
      new IntegrationError('jira', 'Jira is rate limiting us', { retryAfter: 7.2 }),
    ).app.request('/boom');
    expect(slow.status).toBe(502);
    expect(slow.headers.get('retry-after')).toBe('8');
  });

  it('answers an unknown error with a generic 500 and logs it with its stack', async () => {
    const { app, lines } = appThrowing(new Error('password=hunter2 leaked in a driver message'));
    const res = await app.request('/boom');
    expect(res.status).toBe(500);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.code).toBe('internal');
    expect(body.error.message).not.toMatch(/hunter2|driver/);
    expect(body.error.message).toMatch(/request id/);
    const logged = lines.find((l) => l.msg === 'unexpected error while handling a request');
    expect(logged).toBeDefined();
    expect(JSON.stringify(logged)).toContain('hunter2 leaked');
    expect(logged!.requestId).toBe(body.error.requestId);
  });

  it('keeps the status of hono HTTPExceptions', async () => {
    const res = await appThrowing(new HTTPException(413, { message: 'too big' })).app.request('/boom');
    expect(res.status).toBe(413);
    expect(((await res.json()) as ErrorBody).error).toMatchObject({
      code: 'bad_request',
      message: 'too big',
    });
  });
});

describe('request ids', () => {
  it('echoes a sane incoming X-Request-Id and replaces a hostile or missing one', async () => {
    const app = createApp({ deps: createTestDeps(db.current.sql) });
    const kept = await app.request('/healthz', { headers: { 'X-Request-Id': 'lb-1234.abc:9' } });
    expect(kept.headers.get('x-request-id')).toBe('lb-1234.abc:9');
    for (const hostile of ['a b', 'x'.repeat(200), 'id\u00e9', '"><script>', '-leading']) {
      const res = await app.request('/healthz', { headers: { 'X-Request-Id': hostile } });
      expect(res.headers.get('x-request-id'), hostile).toMatch(/^[0-9a-f-]{36}$/);
    }
    const fresh = await app.request('/healthz');
    expect(fresh.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const other = await app.request('/healthz');
    expect(other.headers.get('x-request-id')).not.toBe(fresh.headers.get('x-request-id'));
  });

  it('answers unknown /api/ paths with a JSON 404 and other paths with a plain one', async () => {
    const app = createApp({ deps: createTestDeps(db.current.sql) });
    const api = await app.request('/api/v2/nothing');
    expect(api.status).toBe(404);
    const body = (await api.json()) as ErrorBody;
    expect(body.error).toMatchObject({ code: 'not_found' });
    expect(body.error.requestId).toBe(api.headers.get('x-request-id'));
    const page = await app.request('/nothing-here');
    expect(page.status).toBe(404);
    expect(page.headers.get('content-type')).toMatch(/text\/plain/);
  });

  it('mounts extra route groups after its own routes', async () => {
    const extra = new Hono<AppEnv>();
    extra.get('/hello', (c) => c.json({ requestId: c.get('requestId') }));
    const app = createApp({ deps: createTestDeps(db.current.sql), mounts: [{ path: '/extra', app: extra }] });
    const res = await app.request('/extra/hello', { headers: { 'X-Request-Id': 'abc' } });
    expect(await res.json()).toEqual({ requestId: 'abc' });
  });
});

describe('health', () => {
  it('answers /healthz with 200 and /readyz with 200 when every check passes', async () => {
    const app = createApp({
      deps: createTestDeps(db.current.sql),
      readiness: { scheduler: () => true, extra: { slack: async () => true } },
    });
    expect((await app.request('/healthz')).status).toBe(200);
    const ready = await app.request('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: 'ready',
      checks: { database: 'ok', scheduler: 'ok', slack: 'ok' },
    });
  });

  it('answers /readyz with 503 naming each failed check', async () => {
    let schedulerUp = false;
    const app = createApp({
      deps: createTestDeps(db.current.sql),
      readiness: {
        scheduler: () => schedulerUp,
        extra: {
          slack: () => {
            throw new Error('socket closed');
          },
          hanging: () => new Promise<boolean>(() => {}),
        },
        timeoutMs: 50,
      },
    });
    const res = await app.request('/readyz');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      status: 'unready',
      failed: ['scheduler', 'slack', 'hanging'],
      checks: { database: 'ok', scheduler: 'failed', slack: 'failed', hanging: 'failed' },
    });
    schedulerUp = true;
    const partly = (await (await app.request('/readyz')).json()) as { failed: string[] };
    expect(partly.failed).toEqual(['slack', 'hanging']);
  });

  it('answers /readyz with 503 when the database is gone, while /healthz stays 200', async () => {
    const sql = db.current.connectAgain(1);
    const app = createApp({ deps: createTestDeps(sql) });
    expect((await app.request('/readyz')).status).toBe(200);
    await sql.end({ timeout: 1 });
    const res = await app.request('/readyz');
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'unready', failed: ['database'] });
    expect((await app.request('/healthz')).status).toBe(200);
  });
});
