import { z } from 'zod';
import type { Vault } from '../../lib/crypto.js';
import type { AccountRecord } from '../../storage/scans.js';
import { ProjectSlug } from '../inventory/schema.js';

/**
 * What an account row holds for each provider: non-secret settings in `accounts.config`,
 * credentials as one vault envelope in `accounts.sealed_credentials`.
 *
 * The envelope is JSON sealed with the context `account:<account name>` (see
 * `accountSecretContext`): a sealed value copied onto another account does not open there. An
 * account is never renamed in place; a new name means sealing its credentials again.
 */
export function accountSecretContext(accountName: string): string {
  return `account:${accountName}`;
}

const NO_CONTROL = /^[^\p{Cc}]*$/u;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function secretText(max: number, what: string) {
  return z
    .string()
    .min(1, `${what} is empty`)
    .max(max, `${what} is at most ${max} characters`)
    .regex(NO_CONTROL, `${what} may not contain control characters or newlines`);
}

const HttpsUrl = z.url({ protocol: /^https$/, error: 'an https:// URL' }).max(500);
// SSM requests are signed (SigV4), never carry a bearer token, so an http endpoint (a VPC proxy,
// the test fake) leaks nothing reusable.
const HttpUrl = z.url({ protocol: /^https?$/, error: 'an http(s):// URL' }).max(500);
const Millis = (max: number) => z.int().min(1).max(max);
const Guid = z.string().regex(GUID, 'a GUID like 00000000-0000-0000-0000-000000000000');

/** Settings every account may carry: the project discovery files new servers under. */
const common = {
  project: ProjectSlug.optional().describe('the project discovery puts new servers in'),
};

export const AwsAccountSettings = z
  .object({
    ...common,
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region like eu-west-1'),
    roleArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/, 'an IAM role ARN')
      .optional()
      .describe('a role to assume with STS'),
    externalId: z
      .string()
      .regex(/^[\w+=,.@:/-]{2,1224}$/, 'an STS external id')
      .optional(),
    accountId: z
      .string()
      .regex(/^\d{12}$/, 'a 12-digit AWS account id')
      .optional(),
    endpoint: HttpUrl.optional().describe('SSM endpoint override (VPC endpoint)'),
    stsEndpoint: HttpUrl.optional(),
    maxAttempts: z.int().min(1).max(10).optional(),
    pollIntervalMs: Millis(60_000).optional(),
    maxPollIntervalMs: Millis(300_000).optional(),
  })
  .strict();
export type AwsAccountSettings = z.infer<typeof AwsAccountSettings>;

export const AwsCredentials = z
  .object({
    accessKeyId: z.string().regex(/^[A-Z0-9]{16,128}$/, 'an AWS access key id (AKIA…)'),
    secretAccessKey: secretText(256, 'the secret access key'),
    sessionToken: secretText(4096, 'the session token').optional(),
  })
  .strict();
export type AwsCredentials = z.infer<typeof AwsCredentials>;

export const AzureAccountSettings = z
  .object({
    ...common,
    subscriptionId: Guid,
    tenantId: Guid.describe('the Entra ID tenant of the service principal'),
    clientId: Guid.describe('the service principal (application) id'),
    authorityHost: HttpsUrl.optional(),
    endpoint: HttpsUrl.optional().describe('Resource Manager endpoint override (sovereign clouds)'),
    tlsCa: z
      .string()
      .max(20_000)
      .regex(/^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\s*$/, 'a PEM certificate')
      .optional()
      .describe('an extra CA in PEM; it replaces the public roots'),
    maxRetries: z.int().min(0).max(10).optional(),
    retryDelayMs: Millis(60_000).optional(),
    pollIntervalMs: Millis(60_000).optional(),
  })
  .strict();
export type AzureAccountSettings = z.infer<typeof AzureAccountSettings>;

export const AzureCredentials = z.object({ clientSecret: secretText(512, 'the client secret') }).strict();
export type AzureCredentials = z.infer<typeof AzureCredentials>;

/** SSH "datacentre" accounts: login defaults for their servers (keys are `ssh-key:<account>` secrets). */
export const SshAccountSettings = z
  .object({
    ...common,
    user: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'a POSIX user name')
      .optional(),
    sudo: z.boolean().optional(),
    trustOnFirstUse: z.boolean().optional(),
  })
  .strict();

const PlainSettings = z.object(common).strict();

/** The settings schema for a provider, and whether it takes sealed credentials. */
export function accountSchemas(provider: string): {
  settings: z.ZodType<Record<string, unknown>>;
  credentials: z.ZodType<Record<string, unknown>> | null;
} {
  switch (provider) {
    case 'aws':
      return { settings: AwsAccountSettings, credentials: AwsCredentials };
    case 'azure':
      return { settings: AzureAccountSettings, credentials: AzureCredentials };
    case 'ssh':
      return { settings: SshAccountSettings, credentials: null };
    default:
      return { settings: PlainSettings, credentials: null };
  }
}

export type CredentialsResult<T> =
  | { ok: true; value: T | null }
  | { ok: false; reason: 'unsealable' | 'invalid'; message: string };

/**
 * Opens and checks an account's credentials. Null when none are stored. Never throws and never
 * puts the plaintext in a message.
 */
export function openAccountCredentials<T>(
  vault: Vault,
  account: Pick<AccountRecord, 'name' | 'sealedCredentials'>,
  schema: z.ZodType<T>,
): CredentialsResult<T> {
  if (!account.sealedCredentials) return { ok: true, value: null };
  let text: string;
  try {
    text = vault.openText(account.sealedCredentials, accountSecretContext(account.name));
  } catch {
    return {
      ok: false,
      reason: 'unsealable',
      message: `The credentials of account ${account.name} could not be unsealed (wrong master key, or sealed for another account). Store them again.`,
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    return {
      ok: false,
      reason: 'invalid',
      message: `The stored credentials of account ${account.name} are not in the expected form; store them again.`,
    };
  }
  return { ok: true, value: parsed.data };
}
