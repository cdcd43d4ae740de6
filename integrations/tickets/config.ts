import { z } from 'zod';
import { ConfigError, secretFromEnv } from '../../lib/config.js';
import { TICKET_TRANSITIONS, type TicketTransition } from './types.js';

/**
 * Ticket system settings, read from the environment by lib/config.ts's loadConfig (which calls
 * parseTicketsConfig). Secrets may be given directly or as `<KEY>_FILE` paths.
 */

/** Secrets of this integration: accepted as `KEY` or `KEY_FILE`. */
export const TICKET_SECRET_KEYS = [
  'JIRA_API_TOKEN',
  'JIRA_WEBHOOK_SECRET',
  'SERVICENOW_PASSWORD',
  'SERVICENOW_CLIENT_SECRET',
  'SERVICENOW_INBOUND_TOKEN',
] as const;

export type TransitionMap = Record<TicketTransition, string[]>;

export interface JiraConfig {
  /** Site base URL without a trailing slash: https://acme.atlassian.net or a Data Center URL. */
  url: string;
  /** Cloud: the service account's e-mail (basic auth with the API token). Unset: the token is a Data Center PAT (bearer). */
  email: string | undefined;
  apiToken: string;
  projectKey: string;
  issueType: string;
  incidentIssueType: string;
  /** '3' for Cloud (ADF bodies), '2' for Data Center (plain text bodies). */
  apiVersion: '2' | '3';
  /** Warden's words → the workflow's transition names, applied in order (empty: comment only). */
  transitions: TransitionMap;
  /** Extra fields sent on every create (custom fields, components). */
  fields: Record<string, unknown>;
  /** Issue link type used by link(key, otherKey). */
  linkType: string;
  /** Status names (besides the done category) that mean "stop": a rejected change. */
  cancelStatuses: string[];
  webhookSecret: string | undefined;
}

export type ServiceNowAuth =
  | { kind: 'basic'; user: string; password: string }
  | { kind: 'oauth'; clientId: string; clientSecret: string; user?: string; password?: string };

export interface ServiceNowConfig {
  url: string;
  auth: ServiceNowAuth;
  /** Extra columns sent on every create (assignment_group, category, cmdb_ci). */
  fields: Record<string, unknown>;
  /** Warden's words → the state values a change_request passes through, in order. */
  changeStates: TransitionMap;
  incidentStates: TransitionMap;
  inboundToken: string | undefined;
}

export type TicketsConfig =
  | { system: 'none' }
  | { system: 'jira'; jira: JiraConfig }
  | { system: 'servicenow'; servicenow: ServiceNowConfig };

/** A normal change's state model: Assess and Authorize lead to Scheduled; Review before Closed. */
export const DEFAULT_CHANGE_STATES: TransitionMap = {
  approved: ['-4', '-3', '-2'],
  'in-progress': ['-1'],
  done: ['0', '3'],
  failed: ['0', '3'],
  cancelled: ['4'],
};

export const DEFAULT_INCIDENT_STATES: TransitionMap = {
  approved: ['2'],
  'in-progress': ['2'],
  done: ['6'],
  failed: ['2'],
  cancelled: ['8'],
};

/** Jira's simplified workflow (To Do → In Progress → Done); real change workflows set JIRA_TRANSITIONS. */
export const DEFAULT_JIRA_TRANSITIONS: TransitionMap = {
  approved: [],
  'in-progress': ['In Progress'],
  done: ['Done'],
  failed: ['Done'],
  cancelled: ['Done'],
};

const name = z.string().trim().min(1).max(100);
const transitionMap = z
  .partialRecord(
    z.enum(TICKET_TRANSITIONS as [TicketTransition, ...TicketTransition[]]),
    z.union([name, z.array(name)]),
  )
  .transform((map) =>
    Object.fromEntries(Object.entries(map).map(([k, v]) => [k, Array.isArray(v) ? v : [v]])),
  );
const stateMap = z
  .partialRecord(
    z.enum(TICKET_TRANSITIONS as [TicketTransition, ...TicketTransition[]]),
    z.union([z.string().regex(/^-?\d{1,3}$/), z.array(z.string().regex(/^-?\d{1,3}$/))]),
  )
  .transform((map) =>
    Object.fromEntries(Object.entries(map).map(([k, v]) => [k, Array.isArray(v) ? v : [v]])),
  );
const fieldsMap = z.record(z.string().min(1).max(100), z.unknown());

const siteUrl = z
  .url({ error: 'must be a URL such as https://acme.atlassian.net' })
  .refine((u) => /^https?:\/\//.test(u), 'must start with https:// (or http:// for a local test server)')
  .transform((u) => u.replace(/\/+$/, ''));
const secret = z
  .string()
  .min(16, 'must be at least 16 characters (generate one with `openssl rand -hex 32`)');

export const ticketsConfigSchema = z.object({
  TICKETS_SYSTEM: z
    .enum(['jira', 'servicenow', 'none'], { error: 'TICKETS_SYSTEM must be jira, servicenow or none' })
    .default('none'),
  JIRA_URL: siteUrl.optional(),
  JIRA_EMAIL: z.email({ error: 'must be the service account e-mail' }).optional(),
  JIRA_API_TOKEN: z.string().min(1).optional(),
  JIRA_PROJECT_KEY: z
    .string()
    .regex(/^[A-Z][A-Z0-9_]+$/, 'must be a Jira project key such as OPS')
    .optional(),
  JIRA_ISSUE_TYPE: name.default('Task'),
  JIRA_INCIDENT_ISSUE_TYPE: name.optional(),
  JIRA_API_VERSION: z
    .enum(['2', '3'], { error: 'JIRA_API_VERSION must be 3 (Cloud) or 2 (Data Center)' })
    .default('3'),
  JIRA_TRANSITIONS: z.string().optional(),
  JIRA_FIELDS: z.string().optional(),
  JIRA_LINK_TYPE: name.default('Relates'),
  JIRA_CANCEL_STATUSES: z.string().default('Rejected,Declined,Cancelled,Canceled'),
  JIRA_WEBHOOK_SECRET: secret.optional(),
  SERVICENOW_URL: siteUrl.optional(),
  SERVICENOW_USER: z.string().min(1).optional(),
  SERVICENOW_PASSWORD: z.string().min(1).optional(),
  SERVICENOW_CLIENT_ID: z.string().min(1).optional(),
  SERVICENOW_CLIENT_SECRET: z.string().min(1).optional(),
  SERVICENOW_FIELDS: z.string().optional(),
  SERVICENOW_CHANGE_STATES: z.string().optional(),
  SERVICENOW_INCIDENT_STATES: z.string().optional(),
  SERVICENOW_INBOUND_TOKEN: secret.optional(),
});

function resolveSecretFiles(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const out = { ...env };
  for (const key of TICKET_SECRET_KEYS) {
    if (env[`${key}_FILE`]) out[key] = secretFromEnv(env, key);
  }
  return out;
}

function json<T>(
  key: string,
  text: string | undefined,
  schema: z.ZodType<T>,
  example: string,
): T | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ConfigError(`invalid ${key}: it is not JSON; write it like ${example}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? ` at ${issue.path.join('.')}` : '';
    throw new ConfigError(`invalid ${key}${where}: ${issue.message}; write it like ${example}`);
  }
  return parsed.data;
}

function required<T>(value: T | undefined, key: string, hint: string): T {
  if (value === undefined || value === '') throw new ConfigError(`missing required value ${key}: ${hint}`);
  return value;
}

/**
 * Parse the ticket settings. Throws a ConfigError naming the key and how to fix it.
 *
 * @example
 * parseTicketsConfig({ TICKETS_SYSTEM: 'jira', JIRA_URL: 'https://acme.atlassian.net', … })
 */
export function parseTicketsConfig(env: Record<string, string | undefined>): TicketsConfig {
  // With no ticket system, its other settings are not read (nor their files opened).
  if ((env.TICKETS_SYSTEM ?? 'none') === 'none') return { system: 'none' };
  const parsed = ticketsConfigSchema.safeParse(resolveSecretFiles(env));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? 'environment');
    throw new ConfigError(`invalid ${key}: ${issue.message}`);
  }
  const v = parsed.data;
  if (v.TICKETS_SYSTEM === 'none') return { system: 'none' };

  if (v.TICKETS_SYSTEM === 'jira') {
    const transitions = json(
      'JIRA_TRANSITIONS',
      v.JIRA_TRANSITIONS,
      transitionMap,
      '{"approved":"Approve","in-progress":"Start","done":["Review","Close"]}',
    );
    return {
      system: 'jira',
      jira: {
        url: required(v.JIRA_URL, 'JIRA_URL', 'set it to your Jira site, e.g. https://acme.atlassian.net'),
        email: v.JIRA_EMAIL,
        apiToken: required(
          v.JIRA_API_TOKEN,
          'JIRA_API_TOKEN',
          'create an API token for the service account (or a Data Center personal access token) and set JIRA_API_TOKEN or JIRA_API_TOKEN_FILE',
        ),
        projectKey: required(
          v.JIRA_PROJECT_KEY,
          'JIRA_PROJECT_KEY',
          'set it to the project change requests go to, e.g. OPS',
        ),
        issueType: v.JIRA_ISSUE_TYPE,
        incidentIssueType: v.JIRA_INCIDENT_ISSUE_TYPE ?? v.JIRA_ISSUE_TYPE,
        apiVersion: v.JIRA_API_VERSION,
        transitions: { ...DEFAULT_JIRA_TRANSITIONS, ...transitions },
        fields: json('JIRA_FIELDS', v.JIRA_FIELDS, fieldsMap, '{"components":[{"name":"Servers"}]}') ?? {},
        linkType: v.JIRA_LINK_TYPE,
        cancelStatuses: v.JIRA_CANCEL_STATUSES.split(',')
          .map((s) => s.trim())
          .filter(Boolean),
        webhookSecret: v.JIRA_WEBHOOK_SECRET,
      },
    };
  }

  const url = required(
    v.SERVICENOW_URL,
    'SERVICENOW_URL',
    'set it to your instance, e.g. https://acme.service-now.com',
  );
  let auth: ServiceNowAuth;
  if (v.SERVICENOW_CLIENT_ID || v.SERVICENOW_CLIENT_SECRET) {
    auth = {
      kind: 'oauth',
      clientId: required(
        v.SERVICENOW_CLIENT_ID,
        'SERVICENOW_CLIENT_ID',
        'set it with SERVICENOW_CLIENT_SECRET for OAuth',
      ),
      clientSecret: required(
        v.SERVICENOW_CLIENT_SECRET,
        'SERVICENOW_CLIENT_SECRET',
        'set it (or SERVICENOW_CLIENT_SECRET_FILE) with SERVICENOW_CLIENT_ID for OAuth',
      ),
      ...(v.SERVICENOW_USER && v.SERVICENOW_PASSWORD
        ? { user: v.SERVICENOW_USER, password: v.SERVICENOW_PASSWORD }
        : {}),
    };
  } else {
    auth = {
      kind: 'basic',
      user: required(
        v.SERVICENOW_USER,
        'SERVICENOW_USER',
        'set the integration user (or use SERVICENOW_CLIENT_ID/SECRET for OAuth)',
      ),
      password: required(
        v.SERVICENOW_PASSWORD,
        'SERVICENOW_PASSWORD',
        'set SERVICENOW_PASSWORD or SERVICENOW_PASSWORD_FILE for the integration user',
      ),
    };
  }
  const example = '{"approved":["-4","-3","-2"],"done":["0","3"]}';
  return {
    system: 'servicenow',
    servicenow: {
      url,
      auth,
      fields:
        json('SERVICENOW_FIELDS', v.SERVICENOW_FIELDS, fieldsMap, '{"assignment_group":"Server Ops"}') ?? {},
      changeStates: {
        ...DEFAULT_CHANGE_STATES,
        ...json('SERVICENOW_CHANGE_STATES', v.SERVICENOW_CHANGE_STATES, stateMap, example),
      },
      incidentStates: {
        ...DEFAULT_INCIDENT_STATES,
        ...json('SERVICENOW_INCIDENT_STATES', v.SERVICENOW_INCIDENT_STATES, stateMap, '{"done":["6"]}'),
      },
      inboundToken: v.SERVICENOW_INBOUND_TOKEN,
    },
  };
}
