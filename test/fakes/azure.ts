import { randomUUID } from 'node:crypto';
import { armError, registerVmOperations } from './azure-routes.js';
import { createVm, type FakeAzureVm, vmModel } from './azure-vm.js';
import {
  type FakeResponse,
  type RecordedRequest,
  type StrictServer,
  startStrictServer,
} from './strict-http.js';

export type * from './azure-vm.js';
export { RUN_COMMAND_OUTPUT_BYTES } from './azure-vm.js';

/**
 * A strict fake of the Azure Resource Manager compute API that the azure target uses, served over
 * https with a self-signed certificate (the SDK's bearer policy refuses plain http): VM list and
 * get, assessPatches / installPatches / runCommand as long-running operations (202 with
 * Azure-AsyncOperation and Location, polled until Succeeded, result read from Location), and
 * snapshots. It checks the bearer token and the api-version, validates request bodies against
 * the documented values, refuses a second Run Command while one runs (409, as the agent does),
 * and turns anything else into a test failure.
 *
 * @example
 * const azure = await startFakeAzure({ subscriptionId: SUB, token: 'test-token' });
 * azure.vm('rg1', 'web-1').onRunCommand('sh');
 * azure.server.rateLimitNext(/assessPatches/, { retryAfterSeconds: 1 });
 */

export interface FakeAzureOptions {
  subscriptionId: string;
  /** The only bearer token accepted. */
  token: string;
  /** VMs per list page (ARM pages with nextLink). Default 100. */
  pageSize?: number;
}

export interface FakeAzure {
  readonly url: string;
  readonly ca: string;
  readonly server: StrictServer;
  vm(resourceGroup: string, name: string, init?: Partial<FakeAzureVm>): FakeAzureVm;
  /** Snapshots created, by resource id. */
  readonly snapshots: Map<string, Record<string, unknown>>;
  verify(): void;
  stop(): Promise<void>;
}

export const VM_API_VERSION = '2026-03-01';
export const DISK_API_VERSION = '2025-01-02';
interface Operation {
  id: string;
  status: 'InProgress' | 'Succeeded' | 'Failed';
  result?: Record<string, unknown>;
  error?: { code: string; message: string };
  startTime: string;
}

export async function startFakeAzure(options: FakeAzureOptions): Promise<FakeAzure> {
  const server = await startStrictServer({ name: 'azure', https: true });
  const sub = options.subscriptionId;
  const vms = new Map<string, FakeAzureVm>();
  const operations = new Map<string, Operation>();
  const snapshots = new Map<string, Record<string, unknown>>();
  const base = `/subscriptions/${sub}`;
  const vmPath = `${base}/resourceGroups/:rg/providers/Microsoft.Compute/virtualMachines/:vm`;

  /** Auth and api-version, checked before any route answers. */
  function refuse(req: RecordedRequest, apiVersion: string): FakeResponse | undefined {
    if (req.headers.authorization !== `Bearer ${options.token}`) {
      return {
        status: 401,
        headers: {
          'www-authenticate':
            'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token"',
        },
        body: { error: { code: 'InvalidAuthenticationToken', message: 'The access token is invalid.' } },
      };
    }
    if (req.query['api-version'] !== apiVersion) {
      server.recordViolation(
        'api_version',
        `${req.method} ${req.path} used api-version ${req.query['api-version']}`,
        req,
      );
      return armError(
        400,
        'InvalidApiVersionParameter',
        `The api-version '${req.query['api-version']}' is invalid.`,
      );
    }
    return undefined;
  }

  function findVm(params: Record<string, string>): FakeAzureVm | undefined {
    return vms.get(`${params.rg}/${params.vm}`.toLowerCase());
  }

  function notFound(params: Record<string, string>): FakeResponse {
    return armError(
      404,
      'ResourceNotFound',
      `The Resource 'Microsoft.Compute/virtualMachines/${params.vm}' under resource group '${params.rg}' was not found.`,
    );
  }

  /** Starts a long-running operation: 202 with both polling headers, as ARM answers. */
  function start(
    location: string,
    work: () => Promise<Record<string, unknown>>,
    onDone?: () => void,
  ): FakeResponse {
    const id = randomUUID();
    const op: Operation = { id, status: 'InProgress', startTime: new Date().toISOString() };
    operations.set(id, op);
    void work()
      .then((result) => {
        op.result = result;
        op.status = 'Succeeded';
      })
      .catch((error: unknown) => {
        op.status = 'Failed';
        op.error = { code: 'InternalExecutionError', message: String(error) };
      })
      .finally(() => onDone?.());
    const root = `${server.url}${base}/providers/Microsoft.Compute/locations/${location}`;
    return {
      status: 202,
      headers: {
        'azure-asyncoperation': `${root}/operations/${id}?api-version=${VM_API_VERSION}`,
        location: `${root}/operationResults/${id}?api-version=${VM_API_VERSION}`,
        'retry-after': '0',
      },
    };
  }

  function unknownFields(req: RecordedRequest, body: Record<string, unknown>, allowed: string[]): void {
    const extra = Object.keys(body).filter((key) => !allowed.includes(key));
    if (extra.length > 0)
      server.recordViolation('azure_body', `${req.path} sent unknown fields ${extra.join(', ')}`, req);
  }

  server.route('GET', `${base}/providers/Microsoft.Compute/virtualMachines`, (req) => {
    const denied = refuse(req, VM_API_VERSION);
    if (denied) return denied;
    const size = options.pageSize ?? 100;
    const skip = Number(req.query.$skiptoken ?? 0);
    const all = [...vms.values()];
    const next = skip + size < all.length ? skip + size : undefined;
    return {
      body: {
        value: all.slice(skip, skip + size).map(vmModel),
        ...(next !== undefined
          ? {
              nextLink: `${server.url}${base}/providers/Microsoft.Compute/virtualMachines?api-version=${VM_API_VERSION}&$skiptoken=${next}`,
            }
          : {}),
      },
    };
  });

  server.route('GET', vmPath, (req, params) => {
    const denied = refuse(req, VM_API_VERSION);
    if (denied) return denied;
    const vm = findVm(params);
    return vm ? { body: vmModel(vm) } : notFound(params);
  });

  registerVmOperations(
    { server, base, vmPath, vms, snapshots, refuse, findVm, notFound, start, unknownFields },
    { vm: VM_API_VERSION, disk: DISK_API_VERSION },
  );

  server.route('GET', `${base}/providers/Microsoft.Compute/locations/:loc/operations/:id`, (req, params) => {
    const denied = refuse(req, VM_API_VERSION);
    if (denied) return denied;
    const op = operations.get(params.id ?? '');
    if (!op) return armError(404, 'NotFound', 'operation not found');
    return {
      body: {
        name: op.id,
        status: op.status,
        startTime: op.startTime,
        ...(op.status !== 'InProgress' ? { endTime: new Date().toISOString() } : {}),
        ...(op.error ? { error: op.error } : {}),
      },
    };
  });

  server.route(
    'GET',
    `${base}/providers/Microsoft.Compute/locations/:loc/operationResults/:id`,
    (req, params) => {
      const denied = refuse(req, VM_API_VERSION);
      if (denied) return denied;
      const op = operations.get(params.id ?? '');
      if (!op) return armError(404, 'NotFound', 'operation not found');
      if (op.status === 'InProgress')
        return {
          status: 202,
          headers: { location: `${server.url}${req.path}?api-version=${VM_API_VERSION}` },
        };
      return op.result
        ? { body: op.result }
        : armError(500, op.error?.code ?? 'Failed', op.error?.message ?? 'failed');
    },
  );

  return {
    url: server.url,
    ca: server.ca!,
    server,
    snapshots,
    vm(resourceGroup, name, init = {}) {
      const key = `${resourceGroup}/${name}`.toLowerCase();
      const existing = vms.get(key);
      if (existing) return Object.assign(existing, init);
      const made = createVm(sub, resourceGroup, name, init);
      vms.set(key, made);
      return made;
    },
    verify: () => server.verify(),
    stop: () => server.stop(),
  };
}
