import { z } from 'zod';
import { AppError } from '../../lib/errors.js';
import {
  type AccountSummary,
  accountNameTaken,
  insertAccount,
  listAccountSummaries,
} from '../../storage/accounts.js';
import { withTx } from '../../storage/db.js';
import { getProjectBySlug, PROVIDERS } from '../../storage/inventory.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import { accountSchemas, accountSecretContext } from '../scanning/provider-settings.js';
import { type InputIssue, issuesFromZod, summarizeIssues } from './issues.js';
import { parseInput } from './projects.js';
import { AccountName } from './schema.js';
import { actorFacts, actorRef, type CallMeta, pgErrorCode } from './scope.js';

/**
 * Accounts (an AWS account and region, an Azure subscription, an SSH datacentre) and the
 * credentials Warden uses for them. Credentials are sealed with the vault under
 * `account:<name>` before they are written, and never come back out of the API or the trail.
 * Creating and listing accounts needs the permission globally: an account spans projects.
 */
export const AccountCreate = z
  .object({
    name: AccountName,
    provider: z.enum(PROVIDERS),
    config: z
      .record(z.string(), z.unknown())
      .optional()
      .describe(
        'non-secret settings. aws: region, roleArn, externalId, accountId, endpoint, stsEndpoint, maxAttempts, ' +
          'pollIntervalMs; azure: subscriptionId, tenantId, clientId, authorityHost, endpoint, tlsCa, maxRetries, ' +
          'pollIntervalMs; ssh: user, sudo, trustOnFirstUse; every provider: project (where discovery files new servers)',
      ),
    credentials: z
      .record(z.string(), z.unknown())
      .optional()
      .describe(
        'sealed at once and never returned. aws: {accessKeyId, secretAccessKey, sessionToken?} (omit to use ' +
          "Warden's own instance role); azure: {clientSecret}. Other providers take none.",
      ),
  })
  .strict();
export type AccountCreate = z.infer<typeof AccountCreate>;

function invalid(issues: InputIssue[]): AppError {
  return new AppError('bad_request', `the account is not valid: ${summarizeIssues(issues)}`, {
    details: { issues },
  });
}

/** The provider's own rules for config and credentials; every problem at once, no value echoed. */
function checkProviderFields(input: AccountCreate): {
  config: Record<string, unknown>;
  credentials: Record<string, unknown> | null;
} {
  const schemas = accountSchemas(input.provider);
  const issues: InputIssue[] = [];
  const config = schemas.settings.safeParse(input.config ?? {});
  if (!config.success) issues.push(...issuesFromZod(config.error.issues, ['config']));
  let credentials: Record<string, unknown> | null = null;
  if (input.credentials !== undefined) {
    if (!schemas.credentials) {
      issues.push({
        path: 'credentials',
        message:
          input.provider === 'ssh'
            ? `ssh accounts take no credentials here: store Warden's private key as the secret ssh-key:${input.name}`
            : `${input.provider} accounts take no credentials`,
      });
    } else {
      const parsed = schemas.credentials.safeParse(input.credentials);
      if (parsed.success) credentials = parsed.data;
      else issues.push(...issuesFromZod(parsed.error.issues, ['credentials']));
    }
  }
  if (input.provider === 'azure' && input.credentials === undefined) {
    issues.push({
      path: 'credentials',
      message: 'an azure account needs its service principal secret: {"clientSecret": "…"}',
    });
  }
  if (issues.length > 0 || !config.success) throw invalid(issues);
  return { config: config.data, credentials };
}

function accountExists(name: string): AppError {
  return new AppError('conflict', `an account "${name}" already exists; pick another name`, {
    details: { account: name },
  });
}

/**
 * @example
 * await createAccount({ name: 'aws-prod', provider: 'aws', config: { region: 'eu-west-1' },
 *   credentials: { accessKeyId, secretAccessKey } }, deps, actor);
 */
export async function createAccount(
  input: unknown,
  deps: Deps,
  actor: Actor,
  meta: CallMeta = {},
): Promise<AccountSummary> {
  authorize(actor, 'inventory:write', null);
  const parsed = parseInput(AccountCreate, input, 'account');
  const { config, credentials } = checkProviderFields(parsed);
  const sealed = credentials
    ? deps.vault.seal(JSON.stringify(credentials), accountSecretContext(parsed.name))
    : null;
  try {
    return await withTx(deps.sql, async (tx) => {
      if (await accountNameTaken(tx, parsed.name)) throw accountExists(parsed.name);
      const project = typeof config.project === 'string' ? config.project : null;
      if (project && !(await getProjectBySlug(tx, project))) {
        throw invalid([{ path: 'config.project', message: `there is no project "${project}"` }]);
      }
      const account = await insertAccount(tx, {
        name: parsed.name,
        provider: parsed.provider,
        config,
        sealedCredentials: sealed,
        at: deps.clock.now(),
      });
      await recordEvent(tx, deps, {
        actor: actorRef(actor),
        action: 'account.created',
        subject: { type: 'account', id: account.name },
        projectId: null,
        // Which credential fields were given, never their values.
        data: {
          ...actorFacts(actor),
          name: account.name,
          provider: account.provider,
          config,
          credentials: credentials ? Object.keys(credentials).sort() : [],
        },
        requestId: meta.requestId,
      });
      return account;
    });
  } catch (error) {
    if (pgErrorCode(error) === '23505') throw accountExists(parsed.name);
    throw error;
  }
}

export async function listAccounts(deps: Deps, actor: Actor): Promise<AccountSummary[]> {
  authorize(actor, 'inventory:read', null);
  return listAccountSummaries(deps.sql);
}
