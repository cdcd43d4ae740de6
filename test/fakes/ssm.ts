import {
  createInstance,
  type FakeSsmInstance,
  type Invocation,
  newCommandId,
  type SsmInstanceInfo,
} from './ssm-agent.js';
import { createSsmOperations, FIELDS, SsmError } from './ssm-operations.js';
import {
  type FakeResponse,
  type RecordedRequest,
  type StrictServer,
  startStrictServer,
} from './strict-http.js';

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
function answer(status: number, body: unknown): FakeResponse {
  return { status, headers: { 'content-type': JSON_11, 'x-amzn-requestid': newCommandId() }, body };
}

export async function startFakeSsm(options: FakeSsmOptions): Promise<FakeSsm> {
  const region = options.region ?? 'us-east-1';
  const server = await startStrictServer({ name: 'ssm' });
  const instances = new Map<string, ReturnType<typeof createInstance>>();
  const commands = new Map<string, { invocations: Map<string, Invocation>; documentName: string }>();
  const bodies = new Map<string, Record<string, unknown>[]>();
  const keys = new Set([
    options.accessKeyId,
    ...Object.values(options.roles ?? {}).map((r) => r.accessKeyId),
  ]);

  function authError(req: RecordedRequest, service: string): FakeResponse | undefined {
    const header = req.headers.authorization ?? '';
    const match =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=[0-9a-f]{64}$/.exec(
        header,
      );
    if (!match) {
      return answer(400, {
        __type: 'MissingAuthenticationTokenException',
        message: 'Missing Authentication Token',
      });
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

  const operations = createSsmOperations({ server, instances, commands });

  function assumeRole(req: RecordedRequest): FakeResponse {
    const form = req.body as Record<string, string>;
    const role = options.roles?.[form.RoleArn ?? ''];
    if (form.Action !== 'AssumeRole' || !role || !form.RoleSessionName) {
      server.recordViolation('sts', `unexpected STS request ${JSON.stringify(form)}`, req);
      return {
        status: 403,
        headers: { 'content-type': 'text/xml' },
        body: '<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized</Message></Error></ErrorResponse>',
      };
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
    if (unknown.length > 0)
      server.recordViolation('ssm_protocol', `${op} sent unknown fields ${unknown.join(', ')}`, req);
    bodies.set(op, [...(bodies.get(op) ?? []), body]);
    try {
      return answer(200, handler(body));
    } catch (error) {
      if (error instanceof SsmError)
        return answer(error.status, { __type: error.type, message: error.message });
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
      for (const command of commands.values())
        for (const invocation of command.invocations.values()) invocation.cancel();
      await server.stop();
    },
  };
}
