import { type FakeResponse, type RecordedRequest, type StrictServer, startStrictServer } from './strict-http.js';
import {
  createInstance,
  type FakeSsmInstance,
  type Invocation,
  newCommandId,
  type SsmInstanceInfo,
  startInvocation,
} from './ssm-agent.js';

export type * from './ssm-agent.js';

/**
 * A strict fake of AWS Systems Manager's JSON 1.1 API (`POST /`, `X-Amz-Target: AmazonSSM.<Op>`,
 * `application/x-amz-json-1.1`), plus STS AssumeRole (query protocol), for the aws-ssm target.
 * It checks the SigV4 Authorization header names the configured access key, region and service
 * (the signature itself is not recomputed), enforces the documented limits of the operations it
 * serves, answers typed errors as `{"__type": …}`, and records anything else as a test failure.
 *
 * @example
 * const ssm = await startFakeSsm({ accessKeyId: 'AKIDTEST' });
 * ssm.instance('i-0123456789abcdef0').onShell('sh');
 * ssm.throttleNext('SendCommand');
 * afterEach(() => ssm.verify());
 */

export interface FakeSsmOptions {
  accessKeyId: string;
  region?: string;
  /** Roles AssumeRole may return; their temporary key ids are accepted too. */
  roles?: Record<string, { accessKeyId: string; secretAccessKey: string; sessionToken: string }>;
}

export interface FakeSsm {
  readonly url: string;
  readonly server: StrictServer;
  instance(id: string, info?: Partial<SsmInstanceInfo>): FakeSsmInstance;
  /** The next `times` calls of `op` get 400 ThrottlingException. */
  throttleNext(op: string, times?: number): void;
  /** The next `times` calls of `op` get this typed error. */
  failNext(op: string, failure: { status: number; type: string; message?: string; times?: number }): void;
  /** Request bodies received for an operation, in order. */
  calls(op: string): Record<string, unknown>[];
  verify(): void;
  stop(): Promise<void>;
}

const JSON_11 = 'application/x-amz-json-1.1';
const INSTANCE_ID = /(^i-(\w{8}|\w{17})$)|(^mi-\w{17}$)/;
const DOCUMENTS: Record<string, readonly string[]> = {
  'AWS-RunShellScript': ['commands', 'workingDirectory', 'executionTimeout'],
  'AWS-RunPowerShellScript': ['commands', 'workingDirectory', 'executionTimeout'],
  'AWS-RunPatchBaseline': ['Operation', 'SnapshotId', 'InstallOverrideList', 'RebootOption', 'BaselineOverride'],
};
// Fields each operation accepts; anything else is a client bug the fake reports.
const FIELDS: Record<string, readonly string[]> = {
  SendCommand: ['InstanceIds', 'DocumentName', 'DocumentVersion', 'Comment', 'Parameters', 'TimeoutSeconds'],
  GetCommandInvocation: ['CommandId', 'InstanceId', 'PluginName'],
  ListCommandInvocations: ['CommandId', 'InstanceId', 'Details', 'MaxResults', 'NextToken', 'Filters'],
  CancelCommand: ['CommandId', 'InstanceIds'],
  DescribeInstanceInformation: ['Filters', 'InstanceInformationFilterList', 'MaxResults', 'NextToken'],
  DescribeInstancePatches: ['InstanceId', 'Filters', 'MaxResults', 'NextToken'],
};

class SsmError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

function answer(status: number, body: unknown): FakeResponse {
  return { status, headers: { 'content-type': JSON_11, 'x-amzn-requestid': newCommandId() }, body };
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
  return { items: items.slice(start, end), next: end < items.length ? Buffer.from(String(end)).toString('base64url') : undefined };
}

function intIn(value: unknown, min: number, max: number, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new SsmError('ValidationException', `${name} must be between ${min} and ${max}.`);
  }
  return value;
}

export async function startFakeSsm(options: FakeSsmOptions): Promise<FakeSsm> {
  const region = options.region ?? 'us-east-1';
  const server = await startStrictServer({ name: 'ssm' });
  const instances = new Map<string, ReturnType<typeof createInstance>>();
  const commands = new Map<string, { invocations: Map<string, Invocation>; documentName: string }>();
  const bodies = new Map<string, Record<string, unknown>[]>();
  const keys = new Set([options.accessKeyId, ...Object.values(options.roles ?? {}).map((r) => r.accessKeyId)]);

  function authError(req: RecordedRequest, service: string): FakeResponse | undefined {
    const header = req.headers.authorization ?? '';
    const match =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=[0-9a-f]{64}$/.exec(
        header,
      );
    if (!match) {
      return answer(400, { __type: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' });
    }
    const [, keyId, , keyRegion, keyService, signed] = match;
    if (!keys.has(keyId!)) {
      return answer(400, {
        __type: 'UnrecognizedClientException',
        message: 'The security token included in the request is invalid.',
      });
    }
    if (keyRegion !== region || keyService !== service || !signed!.split(';').includes('x-amz-date')) {
      return answer(400, {
        __type: 'InvalidSignatureException',
        message: `Credential should be scoped to a valid region (${region}) and service (${service}).`,
      });
    }
    return undefined;
  }

  function getInstance(id: unknown): ReturnType<typeof createInstance> {
    const instance = typeof id === 'string' ? instances.get(id) : undefined;
    if (!instance) throw new SsmError('InvalidInstanceId', 'Instances [[' + String(id) + ']] not in a valid state for account');
    return instance;
  }

  function getCommand(id: unknown) {
    const command = typeof id === 'string' ? commands.get(id) : undefined;
    if (!command) throw new SsmError('InvalidCommandId', 'The specified command ID isn’t valid.');
    return command;
  }

  const operations: Record<string, (body: Record<string, unknown>) => unknown> = {
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
      if (name !== 'AWS-RunPatchBaseline' && !(parameters.commands?.length)) {
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
        Command: { CommandId: commandId, DocumentName: name, InstanceIds: ids, Parameters: parameters, Status: 'Pending' },
      };
    },
    GetCommandInvocation(body) {
      const command = commands.get(String(body.CommandId));
      const invocation = command?.invocations.get(String(body.InstanceId));
      if (!command || !invocation) {
        throw new SsmError('InvocationDoesNotExist', 'The command ID and managed node ID you specified didn’t match any invocations.');
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
        ExecutionEndDateTime: invocation.endedAt === null ? '' : new Date(invocation.endedAt * 1000).toISOString(),
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
                    Output: `${inv.stdout}${inv.stderr ? `\n----------ERROR-------\n${inv.stderr}` : ''}`.slice(0, 2500),
                  },
                ],
              }
            : {}),
        })),
      };
    },
    CancelCommand(body) {
      const command = getCommand(body.CommandId);
      const ids = Array.isArray(body.InstanceIds) ? body.InstanceIds.map(String) : [...command.invocations.keys()];
      for (const id of ids) command.invocations.get(id)?.cancel();
      return {};
    },
    DescribeInstanceInformation(body) {
      const size = intIn(body.MaxResults, 5, 50, 'MaxResults', 50);
      const filters = (body.Filters ?? []) as { Key: string; Values: string[] }[];
      let chosen = [...instances.values()];
      for (const filter of filters) {
        if (filter.Key !== 'InstanceIds' && filter.Key !== 'PingStatus' && filter.Key !== 'PlatformTypes') {
          throw new SsmError('InvalidInstanceInformationFilterValue', `Filter key ${filter.Key} is not served by the fake.`);
        }
        if (filter.Key === 'InstanceIds') chosen = chosen.filter((i) => filter.Values.includes(i.id));
        if (filter.Key === 'PingStatus') chosen = chosen.filter((i) => filter.Values.includes(i.info.PingStatus));
        if (filter.Key === 'PlatformTypes') chosen = chosen.filter((i) => filter.Values.includes(i.info.PlatformType));
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

  function assumeRole(req: RecordedRequest): FakeResponse {
    const form = req.body as Record<string, string>;
    const role = options.roles?.[form.RoleArn ?? ''];
    if (form.Action !== 'AssumeRole' || !role || !form.RoleSessionName) {
      server.recordViolation('sts', `unexpected STS request ${JSON.stringify(form)}`, req);
      return { status: 403, headers: { 'content-type': 'text/xml' }, body: '<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized</Message></Error></ErrorResponse>' };
    }
    const expires = new Date(Date.now() + 3600_000).toISOString();
    return {
      status: 200,
      headers: { 'content-type': 'text/xml' },
      body: `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>${role.accessKeyId}</AccessKeyId><SecretAccessKey>${role.secretAccessKey}</SecretAccessKey><SessionToken>${role.sessionToken}</SessionToken><Expiration>${expires}</Expiration></Credentials><AssumedRoleUser><Arn>${form.RoleArn}/${form.RoleSessionName}</Arn><AssumedRoleId>AROA:${form.RoleSessionName}</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>${newCommandId()}</RequestId></ResponseMetadata></AssumeRoleResponse>`,
    };
  }

  server.route('POST', '/', (req) => {
    if (req.contentType === 'application/x-www-form-urlencoded') {
      return authError(req, 'sts') ?? assumeRole(req);
    }
    const target = req.headers['x-amz-target'] ?? '';
    const op = target.startsWith('AmazonSSM.') ? target.slice('AmazonSSM.'.length) : '';
    const handler = operations[op];
    if (req.contentType !== JSON_11 || !handler) {
      server.recordViolation('ssm_protocol', `unexpected ${req.contentType} request for "${target}"`, req);
      return answer(400, { __type: 'UnknownOperationException', message: `Unknown operation ${target}` });
    }
    const denied = authError(req, 'ssm');
    if (denied) return denied;
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(req.rawBody.toString('utf8') || '{}') as Record<string, unknown>;
    } catch {
      server.recordViolation('ssm_protocol', `${op} sent a body that is not JSON`, req);
      return answer(400, { __type: 'SerializationException', message: 'not JSON' });
    }
    const unknown = Object.keys(body).filter((key) => !FIELDS[op]!.includes(key));
    if (unknown.length > 0) server.recordViolation('ssm_protocol', `${op} sent unknown fields ${unknown.join(', ')}`, req);
    bodies.set(op, [...(bodies.get(op) ?? []), body]);
    try {
      return answer(200, handler(body));
    } catch (error) {
      if (error instanceof SsmError) return answer(error.status, { __type: error.type, message: error.message });
      throw error;
    }
  });

  const forOp = (op: string) => (req: RecordedRequest) => req.headers['x-amz-target'] === `AmazonSSM.${op}`;

  return {
    url: server.url,
    server,
    instance(id, info = {}) {
      const existing = instances.get(id);
      if (existing) {
        Object.assign(existing.info, info);
        return existing;
      }
      const made = createInstance(id, info);
      instances.set(id, made);
      return made;
    },
    throttleNext(op, times = 1) {
      server.failNext(forOp(op), {
        status: 400,
        times,
        headers: { 'content-type': JSON_11 },
        body: { __type: 'ThrottlingException', message: 'Rate exceeded' },
      });
    },
    failNext(op, failure) {
      server.failNext(forOp(op), {
        status: failure.status,
        times: failure.times ?? 1,
        headers: { 'content-type': JSON_11 },
        body: { __type: failure.type, message: failure.message ?? failure.type },
      });
    },
    calls: (op) => bodies.get(op) ?? [],
    verify: () => server.verify(),
    async stop() {
      for (const command of commands.values()) for (const invocation of command.invocations.values()) invocation.cancel();
      await server.stop();
    },
  };
}
