import { randomUUID } from 'node:crypto';
import { createVm, type FakeAzureVm, osDiskId, runCommandResult, vmModel } from './azure-vm.js';
import { type FakeResponse, type RecordedRequest, type StrictServer, startStrictServer } from './strict-http.js';

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
const LINUX_CLASSES = ['Critical', 'Security', 'Other'];
const WINDOWS_CLASSES = ['Critical', 'Security', 'UpdateRollUp', 'FeaturePack', 'ServicePack', 'Definition', 'Tools', 'Updates'];

interface Operation {
  id: string;
  status: 'InProgress' | 'Succeeded' | 'Failed';
  result?: Record<string, unknown>;
  error?: { code: string; message: string };
  startTime: string;
}

function armError(status: number, code: string, message: string): FakeResponse {
  return { status, body: { error: { code, message } } };
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
          'www-authenticate': 'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token"',
        },
        body: { error: { code: 'InvalidAuthenticationToken', message: 'The access token is invalid.' } },
      };
    }
    if (req.query['api-version'] !== apiVersion) {
      server.recordViolation('api_version', `${req.method} ${req.path} used api-version ${req.query['api-version']}`, req);
      return armError(400, 'InvalidApiVersionParameter', `The api-version '${req.query['api-version']}' is invalid.`);
    }
    return undefined;
  }

  function findVm(params: Record<string, string>): FakeAzureVm | undefined {
    return vms.get(`${params.rg}/${params.vm}`.toLowerCase());
  }

  function notFound(params: Record<string, string>): FakeResponse {
    return armError(404, 'ResourceNotFound', `The Resource 'Microsoft.Compute/virtualMachines/${params.vm}' under resource group '${params.rg}' was not found.`);
  }

  /** Starts a long-running operation: 202 with both polling headers, as ARM answers. */
  function start(location: string, work: () => Promise<Record<string, unknown>>, onDone?: () => void): FakeResponse {
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
    if (extra.length > 0) server.recordViolation('azure_body', `${req.path} sent unknown fields ${extra.join(', ')}`, req);
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
          ? { nextLink: `${server.url}${base}/providers/Microsoft.Compute/virtualMachines?api-version=${VM_API_VERSION}&$skiptoken=${next}` }
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

  server.route('POST', `${vmPath}/assessPatches`, (req, params) => {
    const denied = refuse(req, VM_API_VERSION);
    if (denied) return denied;
    const vm = findVm(params);
    if (!vm) return notFound(params);
    if (req.rawBody.length > 0) server.recordViolation('azure_body', 'assessPatches takes no body', req);
    const startDateTime = new Date().toISOString();
    return start(vm.location, async () => ({
      status: vm.assessment.status,
      assessmentActivityId: randomUUID(),
      rebootPending: vm.assessment.rebootPending,
      criticalAndSecurityPatchCount: vm.assessment.availablePatches.filter((p) =>
        p.classifications.some((c) => c === 'Critical' || c === 'Security'),
      ).length,
      otherPatchCount: vm.assessment.availablePatches.filter(
        (p) => !p.classifications.some((c) => c === 'Critical' || c === 'Security'),
      ).length,
      startDateTime,
      availablePatches: vm.assessment.availablePatches,
    }));
  });

  server.route('POST', `${vmPath}/installPatches`, (req, params) => {
    const denied = refuse(req, VM_API_VERSION);
    if (denied) return denied;
    const vm = findVm(params);
    if (!vm) return notFound(params);
    const body = (req.body ?? {}) as Record<string, unknown>;
    unknownFields(req, body, ['maximumDuration', 'rebootSetting', 'linuxParameters', 'windowsParameters']);
    const linux = (body.linuxParameters ?? {}) as Record<string, string[] | undefined>;
    const windows = (body.windowsParameters ?? {}) as Record<string, string[] | undefined>;
    const problems = [
      typeof body.maximumDuration === 'string' && /^PT(\d+H)?(\d+M)?$/.test(body.maximumDuration) ? '' : 'maximumDuration must be an ISO 8601 duration like PT2H',
      ['IfRequired', 'Never', 'Always'].includes(String(body.rebootSetting)) ? '' : 'rebootSetting must be IfRequired, Never or Always',
      (linux.classificationsToInclude ?? []).every((c) => LINUX_CLASSES.includes(c)) ? '' : 'bad Linux classification',
      (windows.classificationsToInclude ?? []).every((c) => WINDOWS_CLASSES.includes(c)) ? '' : 'bad Windows classification',
      vm.osType === 'Linux' ? (body.windowsParameters ? 'windowsParameters on a Linux VM' : '') : body.linuxParameters ? 'linuxParameters on a Windows VM' : '',
    ].filter(Boolean);
    if (problems.length > 0) return armError(400, 'InvalidParameter', problems.join('; '));
    vm.installs.push(body);
    const masks = linux.packageNameMasksToInclude ?? [];
    const kbs = (windows.kbNumbersToInclude ?? []).map((kb) => kb.replace(/^KB/i, ''));
    return start(vm.location, async () => {
      // As the Linux patch extension reads a mask: "name" or "name=version", split on "=".
      const linuxMatch = (p: { name: string; version?: string }) =>
        masks.some((mask) => {
          const [name, version] = mask.split('=');
          return name === p.name && (version === undefined || version === p.version);
        });
      const chosen = vm.assessment.availablePatches.filter((p) =>
        vm.osType === 'Linux' ? linuxMatch(p) : kbs.includes((p.kbId ?? '').replace(/^KB/i, '')),
      );
      vm.assessment.availablePatches = vm.assessment.availablePatches.filter((p) => !chosen.includes(p));
      return {
        status: 'Succeeded',
        installationActivityId: randomUUID(),
        rebootStatus: 'NotNeeded',
        maintenanceWindowExceeded: false,
        excludedPatchCount: 0,
        notSelectedPatchCount: vm.assessment.availablePatches.length,
        pendingPatchCount: 0,
        installedPatchCount: chosen.length,
        failedPatchCount: 0,
        patches: chosen.map((p) => ({ patchId: p.patchId, name: p.name, version: p.version, kbId: p.kbId, classifications: p.classifications, installationState: 'Installed' })),
        startDateTime: new Date().toISOString(),
      };
    });
  });

  server.route('POST', `${vmPath}/runCommand`, (req, params) => {
    const denied = refuse(req, VM_API_VERSION);
    if (denied) return denied;
    const vm = findVm(params);
    if (!vm) return notFound(params);
    const body = (req.body ?? {}) as { commandId?: unknown; script?: unknown; parameters?: unknown };
    unknownFields(req, body, ['commandId', 'script', 'parameters']);
    const expected = vm.osType === 'Windows' ? 'RunPowerShellScript' : 'RunShellScript';
    if (body.commandId !== expected) {
      return armError(400, 'InvalidParameter', `Command ${String(body.commandId)} is not supported on ${vm.osType}.`);
    }
    if (!Array.isArray(body.script) || !body.script.every((line) => typeof line === 'string')) {
      return armError(400, 'InvalidParameter', 'script must be an array of strings.');
    }
    if (!vm.behaviour) {
      server.recordViolation('missing_behaviour', `VM ${vm.name} has no onRunCommand behaviour`, req);
    }
    if (vm.running) {
      return armError(409, 'Conflict', 'Run command extension execution is in progress. Please wait for completion before invoking a run command.');
    }
    vm.running = true;
    const script = (body.script as string[]).join('\n');
    vm.scripts.push(script);
    return start(vm.location, () => runCommandResult(vm, expected, script), () => {
      vm.running = false;
    });
  });

  server.route('PUT', `${base}/resourceGroups/:rg/providers/Microsoft.Compute/snapshots/:name`, (req, params) => {
    const denied = refuse(req, DISK_API_VERSION);
    if (denied) return denied;
    const body = (req.body ?? {}) as { location?: string; tags?: unknown; properties?: { creationData?: Record<string, unknown> } };
    unknownFields(req, body as Record<string, unknown>, ['location', 'tags', 'properties', 'sku']);
    const creation = body.properties?.creationData ?? {};
    const source = [...vms.values()].find((vm) => osDiskId(vm) === creation.sourceResourceId);
    if (creation.createOption !== 'Copy' || !source || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,78}[A-Za-z0-9_]$/.test(params.name ?? '')) {
      return armError(400, 'InvalidParameter', 'A snapshot needs createOption Copy from an existing managed disk and a valid name.');
    }
    const id = `${base}/resourceGroups/${params.rg}/providers/Microsoft.Compute/snapshots/${params.name}`;
    const snapshot = {
      id,
      name: params.name,
      type: 'Microsoft.Compute/snapshots',
      location: body.location,
      tags: body.tags ?? {},
      properties: { creationData: creation, timeCreated: new Date().toISOString(), provisioningState: 'Succeeded', diskSizeGB: 30 },
    };
    snapshots.set(id, snapshot);
    return start(source.location, async () => snapshot);
  });

  server.route('GET', `${base}/resourceGroups/:rg/providers/Microsoft.Compute/snapshots/:name`, (req, params) => {
    const denied = refuse(req, DISK_API_VERSION);
    if (denied) return denied;
    const found = snapshots.get(`${base}/resourceGroups/${params.rg}/providers/Microsoft.Compute/snapshots/${params.name}`);
    return found ? { body: found } : armError(404, 'ResourceNotFound', 'snapshot not found');
  });

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

  server.route('GET', `${base}/providers/Microsoft.Compute/locations/:loc/operationResults/:id`, (req, params) => {
    const denied = refuse(req, VM_API_VERSION);
    if (denied) return denied;
    const op = operations.get(params.id ?? '');
    if (!op) return armError(404, 'NotFound', 'operation not found');
    if (op.status === 'InProgress') return { status: 202, headers: { location: `${server.url}${req.path}?api-version=${VM_API_VERSION}` } };
    return op.result ? { body: op.result } : armError(500, op.error?.code ?? 'Failed', op.error?.message ?? 'failed');
  });

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
