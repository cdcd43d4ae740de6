import type http from 'node:http';
import type { FakeResponse, RecordedRequest, RequestMatcher, UploadedPart } from './strict-http-types.js';

/** Reading requests and writing responses for the strict fakes. */

export function matchesRequest(matcher: RequestMatcher, req: RecordedRequest): boolean {
  if (typeof matcher === 'function') return matcher(req);
  if (matcher instanceof RegExp) return matcher.test(`${req.method} ${req.path}`);
  const space = matcher.indexOf(' ');
  if (space === -1) return req.path === matcher;
  return req.method === matcher.slice(0, space).toUpperCase() && req.path === matcher.slice(space + 1);
}

export function describeMatcher(matcher: RequestMatcher): string {
  return typeof matcher === 'function' ? 'a predicate' : String(matcher);
}

export function compilePath(path: string | RegExp): { pattern: RegExp; keys: string[] } {
  if (path instanceof RegExp) return { pattern: path, keys: [] };
  const keys: string[] = [];
  const source = path
    .split('/')
    .map((segment) => {
      if (!segment.startsWith(':')) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      keys.push(segment.slice(1));
      return '([^/]+)';
    })
    .join('/');
  return { pattern: new RegExp(`^${source}$`), keys };
}

export async function parseBody(contentType: string, fullType: string, raw: Buffer): Promise<unknown> {
  if (raw.length === 0) return undefined;
  if (contentType === 'application/json') return JSON.parse(raw.toString('utf8'));
  if (contentType === 'application/x-www-form-urlencoded') {
    return Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
  }
  if (contentType === 'multipart/form-data') {
    // The platform's own multipart parser, so the fake does not carry one of its own.
    const form = await new Response(new Uint8Array(raw), {
      headers: { 'content-type': fullType },
    }).formData();
    const entries: [string, FormDataEntryValue][] = [];
    form.forEach((value, key) => {
      entries.push([key, value]);
    });
    const parts: Record<string, string | UploadedPart> = {};
    for (const [key, value] of entries) {
      parts[key] =
        typeof value === 'string'
          ? value
          : { filename: value.name, type: value.type, data: Buffer.from(await value.arrayBuffer()) };
    }
    return parts;
  }
  if (contentType.startsWith('text/') || contentType === '') return raw.toString('utf8');
  return raw;
}

/** The request target as sent; a path URL cannot parse (or a "//host" one) is kept verbatim. */
export function parseTarget(raw: string): { pathname: string; searchParams: URLSearchParams } {
  const queryAt = raw.indexOf('?');
  const pathname = queryAt === -1 ? raw : raw.slice(0, queryAt);
  return { pathname, searchParams: new URLSearchParams(queryAt === -1 ? '' : raw.slice(queryAt + 1)) };
}

export function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function send(res: http.ServerResponse, response: FakeResponse): void {
  const headers: Record<string, string> = { ...response.headers };
  const hasType = Object.keys(headers).some((name) => name.toLowerCase() === 'content-type');
  let payload: Buffer | string = '';
  if (Buffer.isBuffer(response.body)) payload = response.body;
  else if (typeof response.body === 'string') {
    payload = response.body;
    if (!hasType) headers['content-type'] = 'text/plain; charset=utf-8';
  } else if (response.body !== undefined) {
    payload = JSON.stringify(response.body);
    if (!hasType) headers['content-type'] = 'application/json; charset=utf-8';
  }
  res.writeHead(response.status ?? 200, headers);
  res.end(payload);
}
