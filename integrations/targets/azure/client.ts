import { ComputeManagementClient } from '@azure/arm-compute';
import { ClientSecretCredential } from '@azure/identity';
import { AppError, IntegrationError } from '../../../lib/errors.js';
import { targetError } from '../errors.js';

/** A token source (@azure/core-auth's TokenCredential), named through the client so no extra package is imported. */
export type TokenCredential = ConstructorParameters<typeof ComputeManagementClient>[0];

/** One Azure subscription that Warden reaches through Azure Resource Manager. */
export interface AzureAccountConfig {
  subscriptionId: string;
  /** A service principal: tenant, client id and secret. Not needed when a credential is injected. */
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
  /** Entra ID authority (sovereign clouds). */
  authorityHost?: string;
  /** ARM endpoint override (sovereign clouds, tests). Must be https: bearer tokens are never sent over http. */
  endpoint?: string;
  /** Extra trusted CA in PEM (a private endpoint's or a test fake's); replaces the public roots when set. */
  tlsCa?: string;
  /** Retries per request for 429/5xx (the pipeline honours Retry-After). Default 5. */
  maxRetries?: number;
  /** First retry delay when no Retry-After is given. Default 1 s. */
  retryDelayMs?: number;
}

export interface AzureClientDeps {
  /** A credential to use instead of the service principal in the config (tests inject a static token). */
  credential?: TokenCredential;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function credentialFor(config: AzureAccountConfig, deps: AzureClientDeps): TokenCredential {
  if (deps.credential) return deps.credential;
  if (!config.tenantId || !config.clientId || !config.clientSecret) {
    throw new AppError(
      'bad_request',
      `Azure subscription ${config.subscriptionId} needs tenantId, clientId and clientSecret (a service principal with the role in integrations/targets/azure/README.md).`,
    );
  }
  return new ClientSecretCredential(config.tenantId, config.clientId, config.clientSecret, {
    authorityHost: config.authorityHost,
  });
}

export function createComputeClient(
  config: AzureAccountConfig,
  deps: AzureClientDeps = {},
): ComputeManagementClient {
  if (!GUID.test(config.subscriptionId ?? '')) {
    throw new AppError('bad_request', `"${config.subscriptionId}" is not an Azure subscription id (a GUID).`);
  }
  if (config.endpoint !== undefined && !config.endpoint.startsWith('https://')) {
    throw new AppError(
      'bad_request',
      'The Azure endpoint must be https: bearer tokens are never sent over plain http.',
    );
  }
  return new ComputeManagementClient(credentialFor(config, deps), config.subscriptionId, {
    endpoint: config.endpoint,
    tlsOptions: config.tlsCa ? { ca: config.tlsCa } : undefined,
    retryOptions: {
      maxRetries: config.maxRetries ?? 5,
      retryDelayInMs: config.retryDelayMs ?? 1000,
      maxRetryDelayInMs: 60_000,
    },
  });
}

export interface VmRef {
  subscriptionId: string;
  resourceGroup: string;
  vmName: string;
}

const VM_ID =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([-\w._()]{1,90})\/providers\/Microsoft\.Compute\/virtualMachines\/([A-Za-z0-9][A-Za-z0-9_.-]{0,63})$/i;

/** The parts of a VM resource id; refuses anything that is not one. */
export function parseVmId(resourceId: string): VmRef {
  const match = VM_ID.exec(resourceId ?? '');
  if (!match || !GUID.test(match[1]!)) {
    throw new AppError(
      'bad_request',
      `"${resourceId}" is not an Azure VM resource id (/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Compute/virtualMachines/<name>).`,
    );
  }
  return { subscriptionId: match[1]!, resourceGroup: match[2]!, vmName: match[3]! };
}

function field(error: unknown, name: string): unknown {
  return typeof error === 'object' && error !== null ? (error as Record<string, unknown>)[name] : undefined;
}

const AUTH_ERRORS = new Set([
  'AuthenticationError',
  'CredentialUnavailableError',
  'AuthenticationRequiredError',
]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
]);

/** Sorts an ARM or credential failure into the kinds a scan report shows. */
export function azureError(error: unknown, what: string, vm?: string): AppError {
  if (error instanceof AppError) return error;
  const status = Number(field(error, 'statusCode') ?? 0);
  const code = String(field(error, 'code') ?? '');
  const name = String(field(error, 'name') ?? '');
  const detail = error instanceof Error ? error.message : String(error);
  const options = {
    cause: error,
    details: { statusCode: status || undefined, azureCode: code || undefined, vm },
  };
  if (status === 401 || status === 403 || AUTH_ERRORS.has(name)) {
    return targetError(
      'azure',
      'auth-failed',
      `Azure refused Warden's credentials while trying to ${what} (${code || name || status}: ${detail}). Check the service principal's secret and its role on the subscription (see integrations/targets/azure/README.md).`,
      options,
    );
  }
  if (status === 404) {
    return targetError(
      'azure',
      'unreachable',
      `${vm ?? 'The VM'} was not found in Azure (${detail}). It may have been deleted or moved; run discovery again.`,
      options,
    );
  }
  if (status === 429) {
    return new IntegrationError(
      'azure',
      `Azure kept throttling Warden while trying to ${what}, even after backing off. Try again in a few minutes.`,
      {
        ...options,
        retryAfter: 60,
        details: { ...options.details, kind: 'unreachable' },
      },
    );
  }
  if (status >= 500 || NETWORK_CODES.has(code) || name === 'AbortError') {
    return targetError(
      'azure',
      'unreachable',
      `Could not reach Azure to ${what} (${code || name || status}). Try again later.`,
      options,
    );
  }
  return targetError('azure', 'command-failed', `Azure could not ${what}: ${detail}`, options);
}
