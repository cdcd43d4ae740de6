import { type createInstance, type Invocation, newCommandId, startInvocation } from './ssm-agent.js';
import type { StrictServer } from './strict-http.js';

/** The SSM operations the fake serves, with the documented limits each enforces. */

const INSTANCE_ID = /(^i-(\w{8}|\w{17})$)|(^mi-\w{17}$)/;
const DOCUMENTS: Record<string, readonly string[]> = {
  'AWS-RunShellScript': ['commands', 'workingDirectory', 'executionTimeout'],
  'AWS-RunPowerShellScript': ['commands', 'workingDirectory', 'executionTimeout'],
  'AWS-RunPatchBaseline': [
    'Operation',
    'SnapshotId',
    'InstallOverrideList',
    'RebootOption',
    'BaselineOverride',
  ],
};
// Fields each operation accepts; anything else is a client bug the fake reports.
export const FIELDS: Record<string, readonly string[]> = {
  SendCommand: ['InstanceIds', 'DocumentName', 'DocumentVersion', 'Comment', 'Parameters', 'TimeoutSeconds'],
  GetCommandInvocation: ['CommandId', 'InstanceId', 'PluginName'],
  ListCommandInvocations: ['CommandId', 'InstanceId', 'Details', 'MaxResults', 'NextToken', 'Filters'],
  CancelCommand: ['CommandId', 'InstanceIds'],
  DescribeInstanceInformation: ['Filters', 'InstanceInformationFilterList', 'MaxResults', 'NextToken'],
  DescribeInstancePatches: ['InstanceId', 'Filters', 'MaxResults', 'NextToken'],
};

export class SsmError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

function page<T>(items: T[], token: unknown, size: number): { items: T[]; next?: string } {
  let start = 0;
  if (token !== undefined) {
    start = Number(Buffer.from(String(token), 'base64url').toString());
    if (!Number.isInteger(start) || start < 0 || start > items.length) {
      throw new SsmError('InvalidNextToken', 'The specified token isn’t valid.');
    }
  }
  const end = start + size;
  return {
    items: items.slice(start, end),
    next: end < items.length ? Buffer.from(String(end)).toString('base64url') : undefined,
  };
}

function intIn(value: unknown, min: number, max: number, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new SsmError('ValidationException', `${name} must be between ${min} and ${max}.`);
  }
  return value;
}

export interface SsmState {
  server: StrictServer;
  instances: Map<string, ReturnType<typeof createInstance>>;
  commands: Map<string, { invocations: Map<string, Invocation>; documentName: string }>;
}

export function createSsmOperations(
  state: SsmState,
): Record<string, (body: Record<string, unknown>) => unknown> {
  const { server, instances, commands } = state;
  function getInstance(id: unknown): ReturnType<typeof createInstance> {
    const instance = typeof id === 'string' ? instances.get(id) : undefined;
    if (!instance)
      throw new SsmError(
        'InvalidInstanceId',
        'Instances [[' + String(id) + ']] not in a valid state for account',
      );
    return instance;
  }

  function getCommand(id: unknown) {
    const command = typeof id === 'string' ? commands.get(id) : undefined;
    if (!command) throw new SsmError('InvalidCommandId', 'The specified command ID isn’t valid.');
    return command;
  }

  return {
    SendCommand(body) {
      const ids = body.InstanceIds;
      if (!Array.isArray(ids) || ids.length === 0 || ids.length > 50) {
        throw new SsmError('ValidationException', 'InstanceIds must list 1 to 50 managed nodes.');
      }
      const name = String(body.DocumentName ?? '');
      const allowed = DOCUMENTS[name];
      if (!allowed) throw new SsmError('InvalidDocument', `Document ${name} does not exist in your account.`);
      if (typeof body.Comment === 'string' && body.Comment.length > 100) {
        throw new SsmError('ValidationException', 'Comment has a maximum length of 100.');
      }
      intIn(body.TimeoutSeconds, 30, 2_592_000, 'TimeoutSeconds', 3600);
      const parameters = (body.Parameters ?? {}) as Record<string, string[]>;
      for (const [key, value] of Object.entries(parameters)) {
        if (!allowed.includes(key) || !Array.isArray(value)) {
          throw new SsmError('InvalidParameters', `Parameter ${key} is not valid for document ${name}.`);
        }
      }
      const timeout = parameters.executionTimeout?.[0] ?? '3600';
      if (!/^([1-9][0-9]{0,4}|1[0-6][0-9]{4}|17[0-1][0-9]{3}|172[0-7][0-9]{2}|172800)$/.test(timeout)) {
        throw new SsmError('InvalidParameters', 'executionTimeout must be 1 to 172800 seconds.');
      }
      if (name !== 'AWS-RunPatchBaseline' && !parameters.commands?.length) {
        throw new SsmError('InvalidParameters', 'Parameter commands is required.');
      }
      if (name === 'AWS-RunPatchBaseline') {
        if (!['Scan', 'Install'].includes(parameters.Operation?.[0] ?? '')) {
          throw new SsmError('InvalidParameters', 'Operation must be Scan or Install.');
        }
        const reboot = parameters.RebootOption?.[0];
        if (reboot !== undefined && !['RebootIfNeeded', 'NoReboot'].includes(reboot)) {
          throw new SsmError('InvalidParameters', 'RebootOption must be RebootIfNeeded or NoReboot.');
        }
        const list = parameters.InstallOverrideList?.[0];
        if (list && !/^(https:\/\/|s3:\/\/)/.test(list)) {
          throw new SsmError('InvalidParameters', 'InstallOverrideList must be an https or S3 URL.');
        }
      }
      const targets = ids.map(getInstance);
      const commandId = newCommandId();
      const invocations = new Map<string, Invocation>();
      for (const instance of targets) {
        invocations.set(
          instance.id,
          startInvocation(commandId, {
            instance,
            documentName: name,
            parameters,
            executionTimeoutSeconds: Number(timeout),
            onMissingBehaviour: (message) => server.recordViolation('missing_behaviour', message),
          }),
        );
      }
      commands.set(commandId, { invocations, documentName: name });
      return {
        Command: {
          CommandId: commandId,
          DocumentName: name,
          InstanceIds: ids,
          Parameters: parameters,
          Status: 'Pending',
        },
      };
    },
    GetCommandInvocation(body) {
      const command = commands.get(String(body.CommandId));
      const invocation = command?.invocations.get(String(body.InstanceId));
      if (!command || !invocation) {
        throw new SsmError(
          'InvocationDoesNotExist',
          'The command ID and managed node ID you specified didn’t match any invocations.',
        );
      }
      if (command.documentName === 'AWS-RunPatchBaseline' && body.PluginName === undefined) {
        // A document with several steps needs the step named (documented for PluginName).
        throw new SsmError('InvalidPluginName', 'The plugin name isn’t valid.');
      }
      return {
        CommandId: invocation.commandId,
        InstanceId: invocation.instanceId,
        DocumentName: invocation.documentName,
        DocumentVersion: '$DEFAULT',
        PluginName: invocation.pluginName,
        ResponseCode: invocation.responseCode,
        ExecutionStartDateTime: new Date(invocation.startedAt * 1000).toISOString(),
        ExecutionEndDateTime:
          invocation.endedAt === null ? '' : new Date(invocation.endedAt * 1000).toISOString(),
        Status: invocation.status,
        StatusDetails: invocation.statusDetails,
        StandardOutputContent: invocation.stdout,
        StandardOutputUrl: '',
        StandardErrorContent: invocation.stderr,
        StandardErrorUrl: '',
      };
    },
    ListCommandInvocations(body) {
      const command = getCommand(body.CommandId);
      const list = [...command.invocations.values()].filter(
        (inv) => body.InstanceId === undefined || inv.instanceId === body.InstanceId,
      );
      return {
        CommandInvocations: list.map((inv) => ({
          CommandId: inv.commandId,
          InstanceId: inv.instanceId,
          DocumentName: inv.documentName,
          RequestedDateTime: inv.requestedAt,
          Status: inv.status,
          StatusDetails: inv.statusDetails,
          ...(body.Details === true
            ? {
                CommandPlugins: [
                  {
                    Name: inv.pluginName,
                    Status: inv.status,
                    StatusDetails: inv.statusDetails,
                    ResponseCode: inv.responseCode,
                    // The plugin summary keeps 2,500 characters.
                    Output:
                      `${inv.stdout}${inv.stderr ? `\n----------ERROR-------\n${inv.stderr}` : ''}`.slice(
                        0,
                        2500,
                      ),
                  },
                ],
              }
            : {}),
        })),
      };
    },
    CancelCommand(body) {
      const command = getCommand(body.CommandId);
      const ids = Array.isArray(body.InstanceIds)
        ? body.InstanceIds.map(String)
        : [...command.invocations.keys()];
      for (const id of ids) command.invocations.get(id)?.cancel();
      return {};
    },
    DescribeInstanceInformation(body) {
      const size = intIn(body.MaxResults, 5, 50, 'MaxResults', 50);
      const filters = (body.Filters ?? []) as { Key: string; Values: string[] }[];
      let chosen = [...instances.values()];
      for (const filter of filters) {
        if (filter.Key !== 'InstanceIds' && filter.Key !== 'PingStatus' && filter.Key !== 'PlatformTypes') {
          throw new SsmError(
            'InvalidInstanceInformationFilterValue',
            `Filter key ${filter.Key} is not served by the fake.`,
          );
        }
        if (filter.Key === 'InstanceIds') chosen = chosen.filter((i) => filter.Values.includes(i.id));
        if (filter.Key === 'PingStatus')
          chosen = chosen.filter((i) => filter.Values.includes(i.info.PingStatus));
        if (filter.Key === 'PlatformTypes')
          chosen = chosen.filter((i) => filter.Values.includes(i.info.PlatformType));
      }
      const all = chosen.map((instance) => ({
        InstanceId: instance.id,
        LastPingDateTime: Date.now() / 1000,
        IsLatestVersion: true,
        ...instance.info,
      }));
      const { items, next } = page(all, body.NextToken, size);
      return { InstanceInformationList: items, ...(next ? { NextToken: next } : {}) };
    },
    DescribeInstancePatches(body) {
      if (typeof body.InstanceId !== 'string' || !INSTANCE_ID.test(body.InstanceId)) {
        throw new SsmError('ValidationException', 'InstanceId does not match the managed node id pattern.');
      }
      const instance = getInstance(body.InstanceId);
      const size = intIn(body.MaxResults, 10, 100, 'MaxResults', 50);
      const filters = (body.Filters ?? []) as { Key: string; Values: string[] }[];
      if (filters.length > 5) throw new SsmError('ValidationException', 'At most 5 filters.');
      let patches = instance.patches;
      for (const filter of filters) {
        if (!['Classification', 'KBId', 'Severity', 'State'].includes(filter.Key)) {
          throw new SsmError('InvalidFilter', `The filter name ${filter.Key} isn’t valid.`);
        }
        const key = filter.Key as 'Classification' | 'KBId' | 'Severity' | 'State';
        patches = patches.filter((patch) => filter.Values.includes(patch[key]));
      }
      const { items, next } = page(patches, body.NextToken, size);
      return { Patches: items, ...(next ? { NextToken: next } : {}) };
    },
  };
}
