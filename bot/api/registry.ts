import type { Context } from 'hono';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import type { Deps } from '../../commands/deps.js';
import { issuesFromZod, summarizeIssues } from '../../commands/inventory/issues.js';
import type { CallMeta } from '../../commands/inventory/scope.js';
import type { Actor } from '../../commands/rbac/authorize.js';
import type { Permission } from '../../commands/rbac/roles.js';
import { AppError } from '../../lib/errors.js';
import type { AppEnv } from '../http/context.js';
import { authenticateRequest, requirePermission } from './auth.js';

/**
 * One place per route for everything about it: method, path, permission, and the zod schemas
 * of its parameters, query, body and response. The same declaration validates requests (and
 * responses) at run time and produces the OpenAPI document, so the two cannot drift apart.
 */
export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';
export type BodyFormat = 'json' | 'yaml';
type AnyObject = z.ZodObject<z.core.$ZodShape, z.core.$ZodObjectConfig>;

export interface RouteInput<P extends AnyObject, Q extends AnyObject, B extends z.ZodType> {
  params: z.output<P>;
  query: z.output<Q>;
  body: z.output<B>;
  actor: Actor;
  deps: Deps;
  meta: CallMeta;
}

export interface RouteSpec<
  P extends AnyObject,
  Q extends AnyObject,
  B extends z.ZodType,
  R extends z.ZodType,
> {
  method: HttpMethod;
  /** OpenAPI style, relative to /api/v1: `/servers/{name}`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  /**
   * The permission the route is about. The caller must hold it somewhere (or the request stops
   * with a 403 naming it); the command then checks it precisely, on the project concerned.
   */
  permission: Permission | null;
  params?: P;
  query?: Q;
  body?: B;
  /** Media types the body may come in (default JSON only). */
  bodyFormats?: readonly BodyFormat[];
  /** The success body's schema; null for 204 No Content. */
  response: R | null;
  /** 202 for work accepted and done in the background (a scan batch). */
  status?: 200 | 201 | 202 | 204;
  handler(input: RouteInput<P, Q, B>): Promise<z.input<R>>;
}

/** A route with its types erased, as the app mounts it and the document describes it. */
export interface ApiRoute {
  method: HttpMethod;
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  permission: Permission | null;
  params?: AnyObject;
  query?: AnyObject;
  body?: z.ZodType;
  bodyFormats: readonly BodyFormat[];
  response: z.ZodType | null;
  status: 200 | 201 | 202 | 204;
  handle(c: Context<AppEnv>, deps: Deps): Promise<Response>;
}

const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];

function validationError(where: string, issues: z.core.$ZodIssue[], base: PropertyKey[]): AppError {
  const list = issuesFromZod(issues, base);
  return new AppError('bad_request', `the ${where} is not valid: ${summarizeIssues(list)}`, {
    details: { issues: list },
  });
}

function parseWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: string,
  base: PropertyKey[],
): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(where, result.error.issues, base);
  return result.data;
}

/** Read the body as JSON or YAML, by Content-Type. */
async function readBody(c: Context<AppEnv>, formats: readonly BodyFormat[]): Promise<unknown> {
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  const isJson = type === 'application/json' || type.endsWith('+json');
  const isYaml = YAML_TYPES.includes(type);
  const accepted = formats.includes('yaml') ? 'application/json or application/yaml' : 'application/json';
  if (!(isJson && formats.includes('json')) && !(isYaml && formats.includes('yaml'))) {
    throw new AppError('bad_request', `send the body with Content-Type ${accepted}`, {
      details: { contentType: type || null },
    });
  }
  const text = await c.req.text();
  if (text.trim() === '') throw new AppError('bad_request', 'the request body is empty');
  if (isJson) {
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new AppError('bad_request', `the body is not valid JSON: ${(error as Error).message}`);
    }
  }
  // core schema: plain JSON-like values only (no custom tags, no merge keys); aliases are capped.
  const doc = parseDocument(text, { schema: 'core', uniqueKeys: true, merge: false, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new AppError('bad_request', `the body is not valid YAML: ${doc.errors[0]!.message}`, {
      details: { issues: doc.errors.map((e) => ({ path: '', message: e.message })) },
    });
  }
  try {
    return doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (error) {
    throw new AppError('bad_request', `the YAML body could not be read: ${(error as Error).message}`);
  }
}

/** Declare a route; see RouteSpec. */
export function defineRoute<
  P extends AnyObject,
  Q extends AnyObject,
  B extends z.ZodType,
  R extends z.ZodType,
>(spec: RouteSpec<P, Q, B, R>): ApiRoute {
  const status = spec.status ?? (spec.response === null ? 204 : 200);
  const bodyFormats = spec.bodyFormats ?? ['json'];
  return {
    method: spec.method,
    path: spec.path,
    operationId: spec.operationId,
    summary: spec.summary,
    description: spec.description,
    tag: spec.tag,
    permission: spec.permission,
    params: spec.params,
    query: spec.query,
    body: spec.body,
    bodyFormats,
    response: spec.response,
    status,
    async handle(c, deps) {
      const actor = await authenticateRequest(c, deps);
      if (spec.permission) requirePermission(actor, spec.permission);
      const params = spec.params ? parseWith(spec.params, c.req.param(), 'path', []) : {};
      const query = spec.query ? parseWith(spec.query, c.req.query(), 'query', []) : {};
      const body = spec.body ? parseWith(spec.body, await readBody(c, bodyFormats), 'body', []) : undefined;
      const output = await spec.handler({
        params: params as z.output<P>,
        query: query as z.output<Q>,
        body: body as z.output<B>,
        actor,
        deps,
        meta: { requestId: c.get('requestId') },
      });
      if (spec.response === null) return c.body(null, 204);
      // A response that does not match its declared schema is our bug: fail loudly, never send it.
      const checked = spec.response.safeParse(output);
      if (!checked.success) {
        throw new Error(
          `${spec.operationId} produced a response that does not match its schema: ${checked.error.message}`,
        );
      }
      return c.json(checked.data as object, status as 200 | 201 | 202);
    },
  };
}

/** `/servers/{name}` → `/servers/:name` (hono's syntax). */
export function honoPath(path: string): string {
  return path.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');
}
