import { createHash } from 'node:crypto';
import { AppError } from '../../../lib/errors.js';
import { clip, markerFor, normalizeKey, openLabel, SERVICENOW_KEY, withMarker } from '../common.js';
import type { ServiceNowConfig, TransitionMap } from '../config.js';
import type {
  OpenedTicket,
  StatusCategory,
  Ticket,
  TicketDeps,
  TicketSystem,
  TransitionResult,
} from '../types.js';
import { createServiceNowHttp, type ServiceNowHttp } from './http.js';
import { ServiceNowIds, ServiceNowList, ServiceNowOne, type ServiceNowRecord } from './schema.js';

/** The table each number prefix lives in. */
export const TABLE_BY_PREFIX: Record<string, string> = {
  CHG: 'change_request',
  INC: 'incident',
  RITM: 'sc_req_item',
  REQ: 'sc_request',
  PRB: 'problem',
};

/** change_request state values (the normal change model) and how Warden groups them. */
export const CHANGE_STATES: Record<string, [string, StatusCategory]> = {
  '-5': ['New', 'open'],
  '-4': ['Assess', 'open'],
  '-3': ['Authorize', 'open'],
  '-2': ['Scheduled', 'in-progress'],
  '-1': ['Implement', 'in-progress'],
  '0': ['Review', 'in-progress'],
  '3': ['Closed', 'done'],
  '4': ['Canceled', 'done'],
};

export const INCIDENT_STATES: Record<string, [string, StatusCategory]> = {
  '1': ['New', 'open'],
  '2': ['In Progress', 'in-progress'],
  '3': ['On Hold', 'in-progress'],
  '6': ['Resolved', 'done'],
  '7': ['Closed', 'done'],
  '8': ['Canceled', 'done'],
};

const FIELDS = 'sys_id,number,state,short_description,active';
const MAX_SHORT = 160;
const MAX_BODY = 30_000;

export function tableForKey(key: string): string | undefined {
  const prefix = /^[A-Z]+/.exec(key)?.[0] ?? '';
  return TABLE_BY_PREFIX[prefix];
}

/** A record's state in words and category; `active` (every task table has it) settles closed-ness. */
export function describeState(
  table: string,
  record: Pick<ServiceNowRecord, 'state' | 'active'>,
): [string, StatusCategory] {
  const known = (table === 'change_request' ? CHANGE_STATES : table === 'incident' ? INCIDENT_STATES : {})[
    record.state ?? ''
  ];
  const inactive = record.active === 'false';
  if (known) return [known[0], inactive ? 'done' : known[1]];
  return [record.state ? `state ${record.state}` : 'unknown', inactive ? 'done' : 'open'];
}

/**
 * The ServiceNow implementation of TicketSystem: the Table API over fetch. Changes go to
 * change_request, failures to incident; comments are work notes.
 *
 * @example
 * const snow = createServiceNowTickets(config.tickets.servicenow, { clock });
 * const { key } = await snow.open({ kind: 'change', summary: 'Patch web-01', description: '…' });
 */
export function createServiceNowTickets(
  config: ServiceNowConfig,
  deps: TicketDeps,
  http: ServiceNowHttp = createServiceNowHttp(config, deps),
): TicketSystem {
  const recordUrl = (table: string, sysId: string) => `${config.url}/${table}.do?sys_id=${sysId}`;

  function checked(raw: string): { key: string; table: string } {
    const key = normalizeKey(raw);
    const table = SERVICENOW_KEY.test(key) ? tableForKey(key) : undefined;
    if (!table) {
      throw new AppError(
        'bad_request',
        `"${clip(raw, 40)}" is not a ServiceNow number; numbers look like CHG0030001 or INC0010002`,
      );
    }
    return { key, table };
  }

  async function find(key: string, table: string): Promise<ServiceNowRecord | undefined> {
    const list = await http.call(
      `read ${key}`,
      {
        method: 'GET',
        path: `/api/now/table/${table}`,
        query: { sysparm_query: `number=${key}`, sysparm_limit: '1', sysparm_fields: FIELDS },
      },
      ServiceNowList,
    );
    return list.result[0];
  }

  async function load(raw: string): Promise<{ key: string; table: string; record: ServiceNowRecord }> {
    const { key, table } = checked(raw);
    const record = await find(key, table);
    if (!record) {
      throw new AppError(
        'bad_request',
        `ServiceNow has no ${key}, or Warden's integration user cannot read it`,
      );
    }
    return { key, table, record };
  }

  async function patch(table: string, record: ServiceNowRecord, what: string, body: Record<string, unknown>) {
    return http.call(
      what,
      {
        method: 'PATCH',
        path: `/api/now/table/${table}/${record.sys_id}`,
        query: { sysparm_fields: FIELDS },
        body,
      },
      ServiceNowOne,
    );
  }

  async function markerPresent(record: ServiceNowRecord, marker: string): Promise<boolean> {
    const found = await http.call(
      `read the work notes of ${record.number}`,
      {
        method: 'GET',
        path: '/api/now/table/sys_journal_field',
        query: {
          sysparm_query: `element_id=${record.sys_id}^element=work_notes^valueLIKE${marker}`,
          sysparm_limit: '1',
          sysparm_fields: 'sys_id',
        },
      },
      ServiceNowIds,
    );
    return found.result.length > 0;
  }

  /** Closing a change or resolving an incident needs a close code and notes (the usual data policy). */
  function closingFields(table: string, state: string, to: string, notes: string): Record<string, string> {
    if (table === 'change_request' && state === '3') {
      return { close_code: to === 'done' ? 'successful' : 'unsuccessful', close_notes: clip(notes, 4000) };
    }
    if (table === 'incident' && (state === '6' || state === '7')) {
      return { close_code: 'Solution provided', close_notes: clip(notes, 4000) };
    }
    return {};
  }

  return {
    name: 'servicenow',
    isValidKey: (key) => SERVICENOW_KEY.test(normalizeKey(key)),

    async get(raw): Promise<Ticket | undefined> {
      const key = normalizeKey(raw);
      const table = SERVICENOW_KEY.test(key) ? tableForKey(key) : undefined;
      if (!table) return undefined;
      const record = await find(key, table);
      if (!record) return undefined;
      const [status, category] = describeState(table, record);
      return {
        system: 'servicenow',
        key: record.number,
        status,
        statusCategory: category,
        open: category !== 'done',
        summary: record.short_description ?? '',
        url: recordUrl(table, record.sys_id),
      };
    },

    async open(input): Promise<OpenedTicket> {
      const table = input.kind === 'incident' ? 'incident' : 'change_request';
      const correlation = input.idempotencyKey ? openLabel(input.idempotencyKey) : undefined;
      if (correlation) {
        const list = await http.call(
          'look for a ticket opened before',
          {
            method: 'GET',
            path: `/api/now/table/${table}`,
            query: {
              sysparm_query: `correlation_id=${correlation}`,
              sysparm_limit: '1',
              sysparm_fields: FIELDS,
            },
          },
          ServiceNowList,
        );
        const existing = list.result[0];
        if (existing) return { key: existing.number, url: recordUrl(table, existing.sys_id), created: false };
      }
      const summary = clip(input.summary.replace(/\s+/g, ' ').trim(), MAX_SHORT);
      if (!summary) throw new AppError('bad_request', 'a ticket needs a summary');
      const created = await http.call(
        table === 'incident' ? 'open an incident' : 'open a change request',
        {
          method: 'POST',
          path: `/api/now/table/${table}`,
          query: { sysparm_fields: FIELDS },
          body: {
            ...config.fields,
            ...input.fields,
            short_description: summary,
            description: clip(input.description, MAX_BODY),
            ...(correlation ? { correlation_id: correlation, correlation_display: 'Warden' } : {}),
          },
        },
        ServiceNowOne,
      );
      return { key: created.result.number, url: recordUrl(table, created.result.sys_id), created: true };
    },

    async comment(raw, text, options) {
      const { key, table, record } = await load(raw);
      await patch(table, record, `add a work note to ${key}`, {
        work_notes: withMarker(clip(text, MAX_BODY), options.idempotencyKey),
      });
      return { id: `${record.sys_id}:${markerFor(options.idempotencyKey)}` };
    },

    async hasMarker(raw, idempotencyKey) {
      const { record } = await load(raw);
      return markerPresent(record, markerFor(idempotencyKey));
    },

    async transition(raw, to, options): Promise<TransitionResult> {
      const { key, table, record } = await load(raw);
      const maps: Record<string, TransitionMap> = {
        change_request: config.changeStates,
        incident: config.incidentStates,
      };
      const map = maps[table];
      if (!map)
        throw new AppError('bad_request', `Warden only moves change requests and incidents, not ${key}`);
      const note = withMarker(clip(options.comment, MAX_BODY), options.idempotencyKey);
      const [from, category] = describeState(table, record);
      const steps = map[to];
      const at = steps.indexOf(record.state ?? '');
      // After a crash part-way along a path, carry on from where the record is; a closed record
      // is not reopened, it only gets the note.
      const remaining = category === 'done' ? [] : at >= 0 ? steps.slice(at + 1) : steps;
      if (remaining.length === 0) {
        await patch(table, record, `add a work note to ${key}`, { work_notes: note });
        return { from, to: from, applied: [] };
      }
      let current = record;
      for (const [i, state] of remaining.entries()) {
        const last = i === remaining.length - 1;
        const answer = await patch(table, current, `move ${key} to state ${state}`, {
          state,
          ...closingFields(table, state, to, options.comment),
          ...(last ? { work_notes: note } : {}),
        });
        current = answer.result;
      }
      return { from, to: describeState(table, current)[0], applied: remaining };
    },

    async link(raw, target) {
      const { key, table, record } = await load(raw);
      const other = target.trim();
      if (!SERVICENOW_KEY.test(normalizeKey(other)) && !/^https?:\/\/\S+$/.test(other)) {
        throw new AppError(
          'bad_request',
          `link ${key} to a ServiceNow number or an http(s) URL, not "${clip(target, 60)}"`,
        );
      }
      // The Table API has no generic relation between tasks; a work note is what a person reads.
      const idempotencyKey = `link-${createHash('sha256').update(other).digest('hex').slice(0, 16)}`;
      if (await markerPresent(record, markerFor(idempotencyKey))) return;
      await patch(table, record, `link ${key} to ${other}`, {
        work_notes: withMarker(`Related: ${other}`, idempotencyKey),
      });
    },
  };
}
