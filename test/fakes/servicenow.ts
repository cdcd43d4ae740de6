import { randomBytes } from 'node:crypto';
import {
  CHANGE_ORDER,
  type FakeServiceNowOptions,
  type FakeServiceNowRecord,
  FIRST_STATE,
  PREFIX,
  project,
  snError,
  TERMINAL,
} from './servicenow-model.js';
import {
  type RecordedRequest,
  type RouteHandler,
  type StrictServer,
  startStrictServer,
} from './strict-http.js';

export * from './servicenow-model.js';

/**
 * A strict local fake of ServiceNow's Table API (change_request, incident, sys_journal_field) and
 * its OAuth endpoint (/oauth_token.do), on the strict fake HTTP server. It checks basic auth or an
 * OAuth bearer token on every call, wraps answers in `{ result }`, answers errors with the
 * documented `{ error: { message, detail }, status: 'failure' }`, enforces the normal change state
 * model and the close-code data policy, keeps work notes as journal entries, fails the test on any
 * call or query it does not know, and can be down (503) until a time on the test's clock.
 */
export interface FakeServiceNow {
  server: StrictServer;
  url: string;
  records: Map<string, FakeServiceNowRecord>;
  /** Tokens handed out by /oauth_token.do. */
  tokens: string[];
  addRecord(input: {
    table?: 'change_request' | 'incident';
    state?: string;
    short_description?: string;
  }): FakeServiceNowRecord;
  byNumber(number: string): FakeServiceNowRecord;
  outage(until: Date, options?: { status?: number; retryAfterSeconds?: number }): void;
  verify(): void;
  stop(): Promise<void>;
}

export async function startFakeServiceNow(options: FakeServiceNowOptions = {}): Promise<FakeServiceNow> {
  const user = options.user ?? 'warden.integration';
  const password = options.password ?? 'snow-password';
  const ttl = options.tokenTtlSeconds ?? 1800;
  const now = () => (options.clock ? options.clock.now() : new Date());
  const server = await startStrictServer({ name: 'servicenow' });
  const records = new Map<string, FakeServiceNowRecord>();
  const tokens: string[] = [];
  const validTokens = new Map<string, number>();
  const numbers: Record<string, number> = {};
  let down: { until: Date; status: number; retryAfterSeconds?: number } | undefined;

  function addRecord(input: {
    table?: 'change_request' | 'incident';
    state?: string;
    short_description?: string;
  }): FakeServiceNowRecord {
    const table = input.table ?? 'change_request';
    const [prefix, start] = PREFIX[table]!;
    const n = numbers[table] ?? start;
    numbers[table] = n + 1;
    const record: FakeServiceNowRecord = {
      table,
      sys_id: randomBytes(16).toString('hex'),
      number: `${prefix}${String(n).padStart(7, '0')}`,
      state: input.state ?? FIRST_STATE[table]!,
      short_description: input.short_description ?? '',
      description: '',
      correlation_id: '',
      close_code: '',
      close_notes: '',
      sys_mod_count: 0,
      fields: {},
      work_notes: [],
      history: [],
    };
    records.set(record.sys_id, record);
    return record;
  }

  function authenticated(req: RecordedRequest): boolean {
    const header = req.headers.authorization ?? '';
    if (header === `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`) return true;
    const bearer = /^Bearer (\S+)$/.exec(header)?.[1];
    const until = bearer ? validTokens.get(bearer) : undefined;
    return until !== undefined && now().getTime() < until;
  }

  function guarded(handler: RouteHandler, auth = true): RouteHandler {
    return (req, params) => {
      if (down && now() < down.until) {
        return {
          ...snError(down.status, 'Service Unavailable', 'The instance is temporarily unavailable'),
          headers: down.retryAfterSeconds ? { 'retry-after': String(down.retryAfterSeconds) } : {},
        };
      }
      if (auth && !authenticated(req))
        return snError(401, 'User Not Authenticated', 'Required to provide Auth information');
      return handler(req, params);
    };
  }

  server.route(
    'POST',
    '/oauth_token.do',
    guarded((req) => {
      const form = (req.body ?? {}) as Record<string, string>;
      const clientOk =
        options.clientId !== undefined &&
        form.client_id === options.clientId &&
        form.client_secret === options.clientSecret;
      const grantOk =
        form.grant_type === 'client_credentials' ||
        (form.grant_type === 'password' && form.username === user && form.password === password);
      if (req.contentType !== 'application/x-www-form-urlencoded' || !clientOk || !grantOk) {
        return { status: 401, body: { error_description: 'access_denied', error: 'server_error' } };
      }
      const token = randomBytes(24).toString('base64url');
      tokens.push(token);
      validTokens.set(token, now().getTime() + ttl * 1000);
      return {
        body: {
          access_token: token,
          refresh_token: randomBytes(8).toString('hex'),
          scope: 'useraccount',
          token_type: 'Bearer',
          expires_in: ttl,
        },
      };
    }, false),
  );

  const tableKnown = (table: string | undefined): table is 'change_request' | 'incident' =>
    table === 'change_request' || table === 'incident';

  server.route(
    'GET',
    '/api/now/table/sys_journal_field',
    guarded((req) => {
      const match = /^element_id=([0-9a-f]{32})\^element=work_notes\^valueLIKE([^^]+)$/.exec(
        req.query.sysparm_query ?? '',
      );
      if (!match) {
        server.recordViolation(
          'query',
          `unexpected journal query ${JSON.stringify(req.query.sysparm_query)}`,
          req,
        );
        return snError(400, 'Invalid query');
      }
      const record = records.get(match[1]!);
      const hits = (record?.work_notes ?? []).filter((n) => n.value.includes(match[2]!));
      return {
        body: {
          result: hits.slice(0, Number(req.query.sysparm_limit ?? 10000)).map((n) => ({ sys_id: n.sys_id })),
        },
      };
    }),
  );

  server.route(
    'GET',
    '/api/now/table/:table',
    guarded((req, { table }) => {
      if (!tableKnown(table)) return snError(400, 'Invalid table', `Table ${table} does not exist`);
      const match = /^(number|correlation_id)=([A-Za-z0-9_-]+)$/.exec(req.query.sysparm_query ?? '');
      if (!match) {
        server.recordViolation('query', `unexpected query ${JSON.stringify(req.query.sysparm_query)}`, req);
        return snError(400, 'Invalid query');
      }
      const [, field, value] = match;
      const hits = [...records.values()].filter(
        (r) => r.table === table && (field === 'number' ? r.number === value : r.correlation_id === value),
      );
      const limit = Number(req.query.sysparm_limit ?? 10000);
      return { body: { result: hits.slice(0, limit).map((r) => project(r, req.query.sysparm_fields)) } };
    }),
  );

  server.route(
    'POST',
    '/api/now/table/:table',
    guarded((req, { table }) => {
      if (!tableKnown(table)) return snError(400, 'Invalid table', `Table ${table} does not exist`);
      const body = (req.body ?? {}) as Record<string, unknown>;
      if (typeof body.short_description !== 'string' || body.short_description === '') {
        return snError(403, 'Operation Failed', 'Data Policy Exception: Short description is mandatory');
      }
      const { short_description: _s, description, correlation_id, work_notes, state, ...rest } = body;
      if (state !== undefined)
        return snError(403, 'Operation Failed', 'A new record starts in its first state');
      const record = addRecord({ table, short_description: body.short_description });
      record.description = typeof description === 'string' ? description : '';
      record.correlation_id = typeof correlation_id === 'string' ? correlation_id : '';
      record.fields = rest;
      if (typeof work_notes === 'string' && work_notes) {
        record.work_notes.push({
          sys_id: randomBytes(16).toString('hex'),
          value: work_notes,
          created: now().toISOString(),
        });
      }
      return { status: 201, body: { result: project(record, req.query.sysparm_fields) } };
    }),
  );

  function stateError(record: FakeServiceNowRecord, to: string): string | undefined {
    const from = record.state;
    if (to === from) return undefined;
    if (TERMINAL[record.table]!.includes(from)) return `${record.number} is closed; its state cannot change`;
    if (record.table === 'change_request') {
      if (to === '4') return undefined;
      if (CHANGE_ORDER.indexOf(to) !== CHANGE_ORDER.indexOf(from) + 1) {
        return `Invalid state transition from ${from} to ${to} (the change model moves one step at a time)`;
      }
    } else if (!['1', '2', '3', '6', '7', '8'].includes(to)) {
      return `Invalid incident state ${to}`;
    }
    return undefined;
  }

  server.route(
    'PATCH',
    '/api/now/table/:table/:sysId',
    guarded((req, { table, sysId }) => {
      const record = sysId ? records.get(sysId) : undefined;
      if (!tableKnown(table) || !record || record.table !== table) {
        return snError(404, 'No Record found', "Record doesn't exist or ACL restricts the record retrieval");
      }
      const body = (req.body ?? {}) as Record<string, unknown>;
      const { state, work_notes, close_code, close_notes, ...rest } = body;
      if (state !== undefined) {
        const to = String(state);
        const problem = stateError(record, to);
        if (problem) return snError(403, 'Operation Failed', problem);
        const closing =
          (table === 'change_request' && to === '3') || (table === 'incident' && (to === '6' || to === '7'));
        if (
          closing &&
          (typeof close_code !== 'string' || !close_code || typeof close_notes !== 'string' || !close_notes)
        ) {
          return snError(
            403,
            'Operation Failed',
            'Data Policy Exception: Close code and Close notes are mandatory',
          );
        }
        if (to !== record.state) record.history.push(to);
        record.state = to;
      }
      if (typeof close_code === 'string') record.close_code = close_code;
      if (typeof close_notes === 'string') record.close_notes = close_notes;
      if (typeof work_notes === 'string' && work_notes) {
        record.work_notes.push({
          sys_id: randomBytes(16).toString('hex'),
          value: work_notes,
          created: now().toISOString(),
        });
      }
      Object.assign(record.fields, rest);
      record.sys_mod_count += 1;
      return { body: { result: project(record, req.query.sysparm_fields) } };
    }),
  );

  return {
    server,
    url: server.url,
    records,
    tokens,
    addRecord,
    byNumber(number) {
      const record = [...records.values()].find((r) => r.number === number);
      if (!record) throw new Error(`the ServiceNow fake has no ${number}`);
      return record;
    },
    outage(until, outageOptions = {}) {
      down = {
        until,
        status: outageOptions.status ?? 503,
        retryAfterSeconds: outageOptions.retryAfterSeconds,
      };
    },
    verify: () => server.verify(),
    stop: () => server.stop(),
  };
}
