import https from 'node:https';
import { afterEach, describe, expect, it } from 'vitest';
import { type StrictServer, type StrictServerOptions, startStrictServer } from './strict-http.js';

const started: StrictServer[] = [];

async function start(options: Partial<StrictServerOptions> = {}): Promise<StrictServer> {
  const server = await startStrictServer({ name: 'test', ...options });
  started.push(server);
  return server;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.stop()));
});

function httpsGet(url: string, ca?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => {
          body += chunk.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('strict fake HTTP server', () => {
  it('records method, path, query, headers and parsed JSON, form and multipart bodies', async () => {
    const server = await start();
    server.route('POST', '/items/:id', (req, params) => ({
      status: 201,
      body: { id: params.id, got: req.body },
    }));
    const json = await fetch(`${server.url}/items/a%20b?x=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-trace': 't1' },
      body: JSON.stringify({ name: 'web-1' }),
    });
    await fetch(`${server.url}/items/2`, { method: 'POST', body: new URLSearchParams({ a: '1', b: 'two' }) });
    const form = new FormData();
    form.append('note', 'hi');
    form.append('file', new Blob(['bytes']), 'r.txt');
    await fetch(`${server.url}/items/3`, { method: 'POST', body: form });

    expect(json.status).toBe(201);
    expect(await json.json()).toEqual({ id: 'a b', got: { name: 'web-1' } });
    const [first, second, third] = server.requests;
    expect(first).toMatchObject({
      method: 'POST',
      path: '/items/a%20b',
      query: { x: '1' },
      outcome: 'routed',
    });
    expect(first?.headers['x-trace']).toBe('t1');
    expect(second?.body).toEqual({ a: '1', b: 'two' });
    expect(third?.body).toMatchObject({
      note: 'hi',
      file: { filename: 'r.txt', data: Buffer.from('bytes') },
    });
    server.verify();
  });

  it('answers an unexpected request with 404 and makes assertNoUnexpected throw', async () => {
    const server = await start();
    const res = await fetch(`${server.url}/nobody/home`, { method: 'DELETE' });
    expect(res.status).toBe(404);
    expect(() => server.assertNoUnexpected()).toThrow(/unexpected request #1 DELETE \/nobody\/home/);
  });

  it('keeps hostile paths and bodies as data', async () => {
    const server = await start();
    server.route('*', /^\/echo/, (req) => ({ body: { path: req.path, body: req.body } }));
    const hostile = { cmd: '; rm -rf / $(reboot) `id`\nnext line', name: 'ünïcødé 🚀' };
    const res = await fetch(`${server.url}/echo/;%20rm%20-rf%20%2F/$(id)`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(hostile),
    });
    expect(await res.json()).toEqual({ path: '/echo/;%20rm%20-rf%20%2F/$(id)', body: hostile });
    server.verify();
  });

  it('records a malformed JSON body as a violation and answers 400', async () => {
    const server = await start();
    server.route('POST', '/x', () => ({ body: {} }));
    const res = await fetch(`${server.url}/x`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{',
    });
    expect(res.status).toBe(400);
    expect(server.takeProblems().violations.map((v) => v.kind)).toEqual(['invalid_body']);
  });

  it('requires expected calls to arrive the declared number of times', async () => {
    const server = await start();
    server.route('GET', '/ping', () => ({ body: 'pong' }));
    server.expect('GET /ping', { times: 2 });
    await fetch(`${server.url}/ping`);
    expect(() => server.assertAllExpectedCalled()).toThrow(/GET \/ping 2 time\(s\), got 1/);
    await fetch(`${server.url}/ping`);
    server.verify();
  });

  it('lets an expectation answer instead of the route', async () => {
    const server = await start();
    server.route('GET', '/v', () => ({ body: 'route' }));
    server.expect('/v', { respond: { status: 202, body: 'expectation' } });
    expect(await (await fetch(`${server.url}/v`)).text()).toBe('expectation');
    expect(await (await fetch(`${server.url}/v`)).text()).toBe('route');
    server.verify();
  });

  it('treats a route without an expectation as unexpected when routesAreExpected is false', async () => {
    const server = await start({ routesAreExpected: false });
    server.route('GET', '/only-expected', () => ({ body: 'ok' }));
    expect((await fetch(`${server.url}/only-expected`)).status).toBe(404);
    expect(server.takeProblems().unexpected).toHaveLength(1);
    server.expect('GET /only-expected');
    expect((await fetch(`${server.url}/only-expected`)).status).toBe(200);
    server.verify();
  });

  it('injects failures for the given number of calls, then routes again', async () => {
    const server = await start();
    server.route('POST', '/job', () => ({ body: { ok: true } }));
    server.failNext('POST /job', {
      status: 503,
      body: { error: 'down' },
      headers: { 'x-why': 'maint' },
      times: 2,
    });
    const statuses = [];
    for (let i = 0; i < 3; i += 1)
      statuses.push((await fetch(`${server.url}/job`, { method: 'POST' })).status);
    expect(statuses).toEqual([503, 503, 200]);
    expect(server.requests.map((r) => r.outcome)).toEqual(['injected', 'injected', 'routed']);
    server.verify();
  });

  it('answers 429 with Retry-After when rate limiting is injected', async () => {
    const server = await start();
    server.rateLimitNext(/^GET \/limited$/, { retryAfterSeconds: 30 });
    const res = await fetch(`${server.url}/limited`);
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('30');
    server.verify();
  });

  it('fails on undeclared violations and on declared ones that never happened', async () => {
    const server = await start();
    server.expectViolation('too_long');
    expect(server.recordViolation('too_long', 'declared')).toBe(true);
    expect(server.recordViolation('too_long', 'second one')).toBe(false);
    expect(() => server.assertNoUnexpected()).toThrow(/too_long: second one/);
    server.expectViolation('never');
    expect(() => server.assertAllExpectedCalled()).toThrow(/declared violation never did not happen/);
  });

  it('turns a throwing handler into a 500 and a violation', async () => {
    const server = await start();
    server.route('GET', '/boom', () => {
      throw new Error('fake bug');
    });
    expect((await fetch(`${server.url}/boom`)).status).toBe(500);
    expect(server.takeProblems().violations[0]?.message).toMatch(/fake bug/);
  });

  it('refuses a body above the size limit with 413', async () => {
    const server = await start({ maxBodyBytes: 10 });
    const res = await fetch(`${server.url}/big`, { method: 'POST', body: 'x'.repeat(11) });
    expect(res.status).toBe(413);
    expect(server.takeProblems().violations.map((v) => v.kind)).toEqual(['body_too_large']);
  });

  it('waits for requests without sleeping and gives up at the deadline', async () => {
    const server = await start();
    server.route('POST', '/hook', () => ({ body: {} }));
    const waiting = server.waitFor('POST /hook', { count: 2 });
    await fetch(`${server.url}/hook`, { method: 'POST' });
    await fetch(`${server.url}/hook`, { method: 'POST' });
    expect(await waiting).toHaveLength(2);
    await expect(server.waitFor('GET /never', { timeoutMs: 20 })).rejects.toThrow(/waited 20 ms/);
  });

  it('serves https with a self-signed certificate that clients trust through ca', async () => {
    const server = await start({ https: true });
    server.route('GET', '/secure', () => ({ body: { ok: true } }));
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    await expect(httpsGet(`${server.url}/secure`)).rejects.toThrow(/self-signed|certificate/);
    expect(await httpsGet(`${server.url}/secure`, server.ca)).toEqual({ status: 200, body: '{"ok":true}' });
    server.verify();
  });
});
