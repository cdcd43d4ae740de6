import { z } from 'zod';
import { AccountCreate, createAccount, listAccounts } from '../../../commands/inventory/accounts.js';
import type { AccountSummary } from '../../../storage/accounts.js';
import { PROVIDERS } from '../../../storage/inventory.js';
import { type ApiRoute, defineRoute } from '../registry.js';

/** An account as the API shows it: its settings, whether credentials are stored, never them. */
export const AccountView = z.object({
  name: z.string(),
  provider: z.enum(PROVIDERS),
  config: z.record(z.string(), z.unknown()),
  hasCredentials: z.boolean(),
  serverCount: z.int(),
  createdAt: z.iso.datetime(),
});

export function accountView(account: AccountSummary): z.input<typeof AccountView> {
  return {
    name: account.name,
    provider: account.provider as (typeof PROVIDERS)[number],
    config: account.config,
    hasCredentials: account.hasCredentials,
    serverCount: account.serverCount,
    createdAt: account.createdAt.toISOString(),
  };
}

export const accountRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/accounts',
    operationId: 'listAccounts',
    summary:
      'List the accounts (AWS, Azure, SSH datacentres) without their credentials (inventory:read globally)',
    tag: 'inventory',
    permission: 'inventory:read',
    response: z.object({ items: z.array(AccountView) }),
    handler: async ({ deps, actor }) => ({ items: (await listAccounts(deps, actor)).map(accountView) }),
  }),
  defineRoute({
    method: 'post',
    path: '/accounts',
    operationId: 'createAccount',
    summary: 'Create an account; its credentials are sealed and never returned (inventory:write globally)',
    description:
      'The credentials are encrypted with the master key (context `account:<name>`) before they are stored. ' +
      'Scans of the servers in this account and the discovery job use them; the response and the audit trail ' +
      'only say which credential fields were given.',
    tag: 'inventory',
    permission: 'inventory:write',
    body: AccountCreate,
    response: AccountView,
    status: 201,
    handler: async ({ body, deps, actor, meta }) => accountView(await createAccount(body, deps, actor, meta)),
  }),
];
