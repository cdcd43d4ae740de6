import { API_ROUTES } from './index.js';
import { buildOpenApiDocument, type JsonSchema } from './openapi.js';
import type { ApiRoute } from './registry.js';

/**
 * The OpenAPI document without a server: the same routes and info createApi serves at
 * /api/v1/openapi.json, for generating clients offline (`npm run api:client`).
 *
 * @example
 * const doc = buildApiDocument('https://warden.example.com');
 */
export function buildApiDocument(
  publicUrl = 'http://localhost:3000',
  routes: readonly ApiRoute[] = API_ROUTES,
): JsonSchema {
  return buildOpenApiDocument(routes, {
    title: 'Warden',
    version: '1',
    serverUrl: `${publicUrl.replace(/\/$/, '')}/api/v1`,
  });
}
