import { z } from 'zod';
import { UserHandle } from '../../../commands/inventory/schema.js';
import { CreateTokenInput, createToken, listTokens, revokeToken } from '../../../commands/tokens/tokens.js';
import { type ApiRoute, defineRoute } from '../registry.js';
import { CreatedTokenView, TokenView, tokenView } from '../views.js';

const TokenQuery = z
  .object({
    user: UserHandle.optional().describe("someone else's tokens (needs tokens:manage)"),
    all: z.enum(['true', 'false']).optional().describe("everyone's tokens (needs tokens:manage)"),
  })
  .strict();

export const tokenRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/tokens',
    operationId: 'listTokens',
    summary: 'List your API tokens (never the tokens themselves)',
    tag: 'tokens',
    permission: null,
    query: TokenQuery,
    response: z.object({ items: z.array(TokenView) }),
    handler: async ({ query, deps, actor }) => ({
      items: (await listTokens(deps, actor, { user: query.user, all: query.all === 'true' })).map(tokenView),
    }),
  }),
  defineRoute({
    method: 'post',
    path: '/tokens',
    operationId: 'createToken',
    summary: 'Create an API token; the response holds the token, shown this once',
    description:
      'Scopes are permission names and may only be ones you hold (on the project, when projectSlug is set). ' +
      'Creating a token for someone else, or from an API token, needs tokens:manage.',
    tag: 'tokens',
    permission: null,
    body: CreateTokenInput,
    response: CreatedTokenView,
    status: 201,
    handler: async ({ body, deps, actor, meta }) => {
      const created = await createToken(deps, actor, body, meta);
      return { token: created.token, info: tokenView(created.info) };
    },
  }),
  defineRoute({
    method: 'delete',
    path: '/tokens/{id}',
    operationId: 'revokeToken',
    summary: 'Revoke an API token (yours, or anyone’s with tokens:manage)',
    tag: 'tokens',
    permission: null,
    params: z.object({ id: z.coerce.number().int().positive() }),
    response: TokenView,
    handler: async ({ params, deps, actor, meta }) =>
      tokenView(await revokeToken(deps, actor, { id: params.id }, meta)),
  }),
];
