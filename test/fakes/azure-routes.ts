import { randomUUID } from 'node:crypto';
import { type FakeAzureVm, osDiskId, runCommandResult } from './azure-vm.js';
import type { FakeResponse, RecordedRequest, StrictServer } from './strict-http.js';

/** The fake ARM's VM operations: assessPatches, installPatches, runCommand and OS-disk snapshots. */

const LINUX_CLASSES = ['Critical', 'Security', 'Other'];
const WINDOWS_CLASSES = [
  'Critical',
  'Security',
  'UpdateRollUp',
  'FeaturePack',
  'ServicePack',
  'Definition',
  'Tools',
  'Updates',
];

export function armError(status: number, code: string, message: string): FakeResponse {
  return { status, body: { error: { code, message } } };
}

export interface ArmContext {
  server: StrictServer;
  base: string;
  vmPath: string;
  vms: Map<string, FakeAzureVm>;
  snapshots: Map<string, Record<string, unknown>>;
  refuse(req: RecordedRequest, apiVersion: string): FakeResponse | undefined;
  findVm(params: Record<string, string>): FakeAzureVm | undefined;
  notFound(params: Record<string, string>): FakeResponse;
  start(location: string, work: () => Promise<Record<string, unknown>>, onDone?: () => void): FakeResponse;
  unknownFields(req: RecordedRequest, body: Record<string, unknown>, allowed: string[]): void;
}

export function registerVmOperations(ctx: ArmContext, apiVersions: { vm: string; disk: string }): void {
  const { server, base, vmPath, vms, snapshots, refuse, findVm, notFound, start, unknownFields } = ctx;
  server.route('POST', `${vmPath}/assessPatches`, (req, params) => {
    const denied = refuse(req, apiVersions.vm);
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
    const denied = refuse(req, apiVersions.vm);
    if (denied) return denied;
    const vm = findVm(params);
    if (!vm) return notFound(params);
    const body = (req.body ?? {}) as Record<string, unknown>;
    unknownFields(req, body, ['maximumDuration', 'rebootSetting', 'linuxParameters', 'windowsParameters']);
    const linux = (body.linuxParameters ?? {}) as Record<string, string[] | undefined>;
    const windows = (body.windowsParameters ?? {}) as Record<string, string[] | undefined>;
    const problems = [
      typeof body.maximumDuration === 'string' && /^PT(\d+H)?(\d+M)?$/.test(body.maximumDuration)
        ? ''
        : 'maximumDuration must be an ISO 8601 duration like PT2H',
      ['IfRequired', 'Never', 'Always'].includes(String(body.rebootSetting))
        ? ''
        : 'rebootSetting must be IfRequired, Never or Always',
      (linux.classificationsToInclude ?? []).every((c) => LINUX_CLASSES.includes(c))
        ? ''
        : 'bad Linux classification',
      (windows.classificationsToInclude ?? []).every((c) => WINDOWS_CLASSES.includes(c))
        ? ''
        : 'bad Windows classification',
      vm.osType === 'Linux'
        ? body.windowsParameters
          ? 'windowsParameters on a Linux VM'
          : ''
        : body.linuxParameters
          ? 'linuxParameters on a Windows VM'
          : '',
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
        patches: chosen.map((p) => ({
          patchId: p.patchId,
          name: p.name,
          version: p.version,
          kbId: p.kbId,
          classifications: p.classifications,
          installationState: 'Installed',
        })),
        startDateTime: new Date().toISOString(),
      };
    });
  });

  server.route('POST', `${vmPath}/runCommand`, (req, params) => {
    const denied = refuse(req, apiVersions.vm);
    if (denied) return denied;
    const vm = findVm(params);
    if (!vm) return notFound(params);
    const body = (req.body ?? {}) as { commandId?: unknown; script?: unknown; parameters?: unknown };
    unknownFields(req, body, ['commandId', 'script', 'parameters']);
    const expected = vm.osType === 'Windows' ? 'RunPowerShellScript' : 'RunShellScript';
    if (body.commandId !== expected) {
      return armError(
        400,
        'InvalidParameter',
        `Command ${String(body.commandId)} is not supported on ${vm.osType}.`,
      );
    }
    if (!Array.isArray(body.script) || !body.script.every((line) => typeof line === 'string')) {
      return armError(400, 'InvalidParameter', 'script must be an array of strings.');
    }
    if (!vm.behaviour) {
      server.recordViolation('missing_behaviour', `VM ${vm.name} has no onRunCommand behaviour`, req);
    }
    if (vm.running) {
      return armError(
        409,
        'Conflict',
        'Run command extension execution is in progress. Please wait for completion before invoking a run command.',
      );
    }
    vm.running = true;
    const script = (body.script as string[]).join('\n');
    vm.scripts.push(script);
    return start(
      vm.location,
      () => runCommandResult(vm, expected, script),
      () => {
        vm.running = false;
      },
    );
  });

  server.route(
    'PUT',
    `${base}/resourceGroups/:rg/providers/Microsoft.Compute/snapshots/:name`,
    (req, params) => {
      const denied = refuse(req, apiVersions.disk);
      if (denied) return denied;
      const body = (req.body ?? {}) as {
        location?: string;
        tags?: unknown;
        properties?: { creationData?: Record<string, unknown> };
      };
      unknownFields(req, body as Record<string, unknown>, ['location', 'tags', 'properties', 'sku']);
      const creation = body.properties?.creationData ?? {};
      const source = [...vms.values()].find((vm) => osDiskId(vm) === creation.sourceResourceId);
      if (
        creation.createOption !== 'Copy' ||
        !source ||
        !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,78}[A-Za-z0-9_]$/.test(params.name ?? '')
      ) {
        return armError(
          400,
          'InvalidParameter',
          'A snapshot needs createOption Copy from an existing managed disk and a valid name.',
        );
      }
      const id = `${base}/resourceGroups/${params.rg}/providers/Microsoft.Compute/snapshots/${params.name}`;
      const snapshot = {
        id,
        name: params.name,
        type: 'Microsoft.Compute/snapshots',
        location: body.location,
        tags: body.tags ?? {},
        properties: {
          creationData: creation,
          timeCreated: new Date().toISOString(),
          provisioningState: 'Succeeded',
          diskSizeGB: 30,
        },
      };
      snapshots.set(id, snapshot);
      return start(source.location, async () => snapshot);
    },
  );

  server.route(
    'GET',
    `${base}/resourceGroups/:rg/providers/Microsoft.Compute/snapshots/:name`,
    (req, params) => {
      const denied = refuse(req, apiVersions.disk);
      if (denied) return denied;
      const found = snapshots.get(
        `${base}/resourceGroups/${params.rg}/providers/Microsoft.Compute/snapshots/${params.name}`,
      );
      return found ? { body: found } : armError(404, 'ResourceNotFound', 'snapshot not found');
    },
  );
}
