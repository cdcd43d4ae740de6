import type { Clock } from '../../lib/clock.js';
import type { FakeResponse } from './strict-http.js';

/** The state and wire details of the ServiceNow fake (test/fakes/servicenow.ts). */
export interface FakeWorkNote {
  sys_id: string;
  value: string;
  created: string;
}

export interface FakeServiceNowRecord {
  table: 'change_request' | 'incident';
  sys_id: string;
  number: string;
  state: string;
  short_description: string;
  description: string;
  correlation_id: string;
  close_code: string;
  close_notes: string;
  sys_mod_count: number;
  /** Other columns sent on create or update. */
  fields: Record<string, unknown>;
  work_notes: FakeWorkNote[];
  /** States the record moved through, in order. */
  history: string[];
}

export interface FakeServiceNowOptions {
  user?: string;
  password?: string;
  /** Enables OAuth (/oauth_token.do) with these client credentials. */
  clientId?: string;
  clientSecret?: string;
  tokenTtlSeconds?: number;
  clock?: Clock;
}

export const CHANGE_ORDER = ['-5', '-4', '-3', '-2', '-1', '0', '3'];
export const TERMINAL: Record<string, string[]> = { change_request: ['3', '4'], incident: ['7', '8'] };
export const FIRST_STATE: Record<string, string> = { change_request: '-5', incident: '1' };
export const PREFIX: Record<string, [string, number]> = {
  change_request: ['CHG', 30_001],
  incident: ['INC', 10_001],
};

export function snError(status: number, message: string, detail: string | null = null): FakeResponse {
  return { status, body: { error: { message, detail }, status: 'failure' } };
}

export function project(record: FakeServiceNowRecord, fields: string | undefined): Record<string, string> {
  const all: Record<string, string> = {
    sys_id: record.sys_id,
    number: record.number,
    state: record.state,
    short_description: record.short_description,
    description: record.description,
    correlation_id: record.correlation_id,
    close_code: record.close_code,
    close_notes: record.close_notes,
    active: String(!TERMINAL[record.table]!.includes(record.state)),
    sys_mod_count: String(record.sys_mod_count),
  };
  if (!fields) return all;
  return Object.fromEntries(fields.split(',').map((f) => [f, all[f] ?? '']));
}
