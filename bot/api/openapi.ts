import { z } from 'zod';
import type { ApiRoute } from './registry.js';
import { ErrorBody } from './views.js';

/** A JSON Schema object (draft 2020-12, which OpenAPI 3.1 uses as is). */
export type JsonSchema = Record<string, unknown>;

export interface OpenApiInfo {
  title: string;
  version: string;
  /** Where the API lives, e.g. https://warden.example.com/api/v1. */
  serverUrl: string;
}

/** zod → JSON Schema; `input` for what callers send, `output` for what they get back. */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
  }) as JsonSchema;
  return rest;
}

function parametersOf(schema: ApiRoute['params'], where: 'path' | 'query'): JsonSchema[] {
  if (!schema) return [];
  const object = jsonSchemaOf(schema, 'input') as {
    properties?: Record<string, JsonSchema>;
    required?: string[];
  };
  return Object.entries(object.properties ?? {}).map(([name, property]) => {
    const { description, ...propertySchema } = property;
    return {
      name,
      in: where,
      required: where === 'path' || (object.required ?? []).includes(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: propertySchema,
    };
  });
}

const MEDIA_TYPES = { json: 'application/json', yaml: 'application/yaml' } as const;

function operationOf(route: ApiRoute): JsonSchema {
  const errorRef = (description: string) => ({
    description,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  });
  const responses: Record<string, unknown> = {
    [String(route.status)]:
      route.response === null
        ? { description: 'Done' }
        : {
            description: 'OK',
            content: { 'application/json': { schema: jsonSchemaOf(route.response, 'output') } },
          },
    '400': errorRef('The request is not valid; details.issues says where'),
    '401': errorRef('No token, or an unknown, expired or revoked one'),
    '403': errorRef('The token or its user lacks the permission; details.permission names it'),
  };
  if (route.params) responses['404'] = errorRef('Not found');
  if (route.method !== 'get') responses['409'] = errorRef('Conflicts with the current state');
  return {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    tags: [route.tag],
    security: [{ bearerAuth: [] }],
    'x-permission': route.permission,
    parameters: [...parametersOf(route.params, 'path'), ...parametersOf(route.query, 'query')],
    ...(route.body
      ? {
          requestBody: {
            required: true,
            content: Object.fromEntries(
              route.bodyFormats.map((f) => [MEDIA_TYPES[f], { schema: jsonSchemaOf(route.body!, 'input') }]),
            ),
          },
        }
      : {}),
    responses,
  };
}

/** The OpenAPI 3.1 document for `routes`, built from the same schemas that validate them. */
export function buildOpenApiDocument(routes: readonly ApiRoute[], info: OpenApiInfo): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    paths[route.path] ??= {};
    paths[route.path]![route.method] = operationOf(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: info.title,
      version: info.version,
      description:
        'The Warden REST API. Authenticate with an API token: Authorization: Bearer wdn_…. Every error is ' +
        '{ "error": { "code", "message", "details"?, "requestId" } }.',
    },
    servers: [{ url: info.serverUrl }],
    paths,
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'wdn_ token' } },
      schemas: { Error: jsonSchemaOf(ErrorBody, 'output') },
    },
  };
}
