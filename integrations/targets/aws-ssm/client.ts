import { SSMClient, type SSMClientConfig } from '@aws-sdk/client-ssm';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { AppError, IntegrationError } from '../../../lib/errors.js';
import { targetError } from '../errors.js';

/** One AWS account and region that Warden reaches through Systems Manager. */
export interface SsmAccountConfig {
  region: string;
  /** Static keys. Without them (and without `roleArn`) the SDK's default chain is used (env, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** A role to assume (with `credentials`, or the default chain, as the caller). */
  roleArn?: string;
  externalId?: string;
  /** Shown in discovery results; informational. */
  accountId?: string;
  /** Endpoint override (tests, VPC endpoints). STS uses `stsEndpoint`, else this one. */
  endpoint?: string;
  stsEndpoint?: string;
  /** Attempts per API call, throttling included (the SDK backs off between them). Default 5. */
  maxAttempts?: number;
}

type Credentials = NonNullable<SSMClientConfig['credentials']>;

const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
// Refresh assumed-role keys this long before they expire.
const REFRESH_MARGIN_MS = 5 * 60 * 1000;

function assumeRole(config: SsmAccountConfig, roleArn: string): Credentials {
  const sts = new STSClient({
    region: config.region,
    credentials: config.credentials,
    endpoint: config.stsEndpoint ?? config.endpoint,
    maxAttempts: config.maxAttempts ?? 5,
  });
  let cached:
    | { accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date }
    | undefined;
  return async () => {
    if (cached?.expiration && cached.expiration.getTime() - REFRESH_MARGIN_MS > Date.now()) return cached;
    const out = await sts.send(
      new AssumeRoleCommand({
        RoleArn: roleArn,
        RoleSessionName: 'warden',
        ExternalId: config.externalId,
        DurationSeconds: 3600,
      }),
    );
    const keys = out.Credentials;
    if (!keys?.AccessKeyId || !keys.SecretAccessKey) {
      throw new AppError('integration', `STS returned no credentials for ${roleArn}.`);
    }
    cached = {
      accessKeyId: keys.AccessKeyId,
      secretAccessKey: keys.SecretAccessKey,
      sessionToken: keys.SessionToken,
      expiration: keys.Expiration,
    };
    return cached;
  };
}

/** An SSM client for the account: static keys, an assumed role, or the default credential chain. */
export function createSsmClient(config: SsmAccountConfig): SSMClient {
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(config.region ?? '')) {
    throw new AppError('bad_request', `"${config.region}" is not an AWS region; use e.g. eu-west-1.`);
  }
  if (config.roleArn !== undefined && !ROLE_ARN.test(config.roleArn)) {
    throw new AppError(
      'bad_request',
      `"${config.roleArn}" is not an IAM role ARN (arn:aws:iam::123456789012:role/Name).`,
    );
  }
  return new SSMClient({
    region: config.region,
    endpoint: config.endpoint,
    credentials: config.roleArn ? assumeRole(config, config.roleArn) : config.credentials,
    maxAttempts: config.maxAttempts ?? 5,
  });
}

const AUTH_ERRORS = new Set([
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'AccessDeniedException',
  'AccessDenied',
  'ExpiredTokenException',
  'ExpiredToken',
  'InvalidClientTokenId',
  'MissingAuthenticationTokenException',
  'CredentialsProviderError',
]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
]);

function errorName(error: unknown): string {
  if (typeof error !== 'object' || error === null) return '';
  const { name, code } = error as { name?: unknown; code?: unknown };
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
  return typeof name === 'string' ? name : '';
}

/**
 * Turns an SDK failure into an error the scan report can sort: auth failures, unknown or
 * unreachable instances, throttling that outlasted the retries, and network trouble.
 */
export function ssmError(error: unknown, what: string, instanceId?: string): AppError {
  if (error instanceof AppError) return error;
  const name = errorName(error);
  const detail = error instanceof Error ? error.message : String(error);
  const options = { cause: error, details: { awsError: name, instanceId } };
  if (AUTH_ERRORS.has(name)) {
    return targetError(
      'aws-ssm',
      'auth-failed',
      `AWS refused Warden's credentials while trying to ${what} (${name}: ${detail}). Check the account's access keys or role and its IAM policy (see integrations/targets/aws-ssm/README.md).`,
      options,
    );
  }
  if (name === 'InvalidInstanceId') {
    return targetError(
      'aws-ssm',
      'unreachable',
      `${instanceId ?? 'The instance'} is not a managed node SSM can reach: it may be stopped or terminated, its SSM Agent may be offline, or it belongs to another account or region. Check it in Fleet Manager.`,
      options,
    );
  }
  if (name === 'ThrottlingException' || name === 'TooManyUpdates') {
    return new IntegrationError(
      'aws-ssm',
      `AWS kept throttling Warden while trying to ${what}, even after backing off. Try again in a minute.`,
      { ...options, retryAfter: 60, details: { ...options.details, kind: 'unreachable' } },
    );
  }
  if (NETWORK_CODES.has(name) || /InternalServerError|ServiceUnavailable/.test(name)) {
    return targetError(
      'aws-ssm',
      'unreachable',
      `Could not reach AWS Systems Manager to ${what} (${name || detail}). Try again later.`,
      options,
    );
  }
  return targetError(
    'aws-ssm',
    'command-failed',
    `AWS Systems Manager could not ${what}: ${name ? `${name}: ` : ''}${detail}`,
    options,
  );
}
