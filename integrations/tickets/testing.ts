import type { Clock } from '../../lib/clock.js';
import { startFakeJira } from '../../test/fakes/jira.js';
import { startFakeServiceNow } from '../../test/fakes/servicenow.js';
import type { StrictServer } from '../../test/fakes/strict-http.js';
import { parseTicketsConfig, type TicketsConfig } from './config.js';
import { createTicketSystem } from './index.js';
import type { TicketSystem } from './types.js';

/**
 * One harness per implementation of the TicketSystem port, so the same contract tests run
 * against Jira Cloud (v3, basic auth), Jira Data Center (v2, bearer PAT), ServiceNow with basic
 * auth and ServiceNow with OAuth, each against its strict fake.
 */
export interface TicketHarness {
  variant: string;
  tickets: TicketSystem;
  config: TicketsConfig;
  server: StrictServer;
  /** A ticket made in the fake as a person would: open, or closed (Done / Closed). */
  seed(state: 'open' | 'closed'): string;
  /** Comments or work notes as text, oldest first. */
  comments(key: string): string[];
  status(key: string): string;
  /** Statuses the ticket moved through (Jira transition names, ServiceNow state values). */
  history(key: string): string[];
  /** Keys of every ticket in the fake, in creation order. */
  keys(): string[];
  outage(until: Date, options?: { status?: number; retryAfterSeconds?: number }): void;
  /** A well-formed key the fake does not know. */
  unknownKey: string;
  /** What history() holds after approved → in-progress → done. */
  wholeLife: string[];
  /** The status name after done. */
  doneStatus: string;
  stop(): Promise<void>;
}

export const JIRA_TEST_TRANSITIONS = JSON.stringify({
  approved: 'Approve',
  'in-progress': 'Start',
  done: 'Complete',
  failed: 'Fail',
  cancelled: 'Cancel',
});

export const WEBHOOK_SECRET = 'jira-webhook-secret-0123456789';
export const INBOUND_TOKEN = 'snow-inbound-token-0123456789';

export type Variant = 'jira-cloud' | 'jira-dc' | 'servicenow-basic' | 'servicenow-oauth';
export const VARIANTS: readonly Variant[] = ['jira-cloud', 'jira-dc', 'servicenow-basic', 'servicenow-oauth'];

export async function startHarness(variant: Variant, clock: Clock): Promise<TicketHarness> {
  if (variant === 'jira-cloud' || variant === 'jira-dc') {
    const cloud = variant === 'jira-cloud';
    const fake = await startFakeJira({
      apiVersion: cloud ? '3' : '2',
      clock,
      ...(cloud ? {} : { bearer: 'dc-pat-token' }),
    });
    const config = parseTicketsConfig({
      TICKETS_SYSTEM: 'jira',
      JIRA_URL: fake.url,
      ...(cloud
        ? { JIRA_EMAIL: 'warden@example.com', JIRA_API_TOKEN: 'jira-api-token' }
        : { JIRA_API_TOKEN: 'dc-pat-token' }),
      JIRA_PROJECT_KEY: 'OPS',
      JIRA_ISSUE_TYPE: 'Change',
      JIRA_INCIDENT_ISSUE_TYPE: 'Incident',
      JIRA_API_VERSION: cloud ? '3' : '2',
      JIRA_TRANSITIONS: JIRA_TEST_TRANSITIONS,
      JIRA_WEBHOOK_SECRET: WEBHOOK_SECRET,
    });
    return {
      variant,
      tickets: createTicketSystem(config, { clock })!,
      config,
      server: fake.server,
      seed: (state) => fake.addIssue({ status: state === 'open' ? 'Open' : 'Done' }).key,
      comments: (key) => fake.issue(key).comments.map((c) => c.text),
      status: (key) => fake.issue(key).status,
      history: (key) => fake.issue(key).history,
      keys: () => [...fake.issues.keys()],
      outage: (until, options) => fake.outage(until, options),
      unknownKey: 'OPS-9999',
      wholeLife: ['Approve', 'Start', 'Complete'],
      doneStatus: 'Done',
      stop: () => fake.stop(),
    };
  }
  const oauth = variant === 'servicenow-oauth';
  const fake = await startFakeServiceNow({
    clock,
    ...(oauth ? { clientId: 'warden-client', clientSecret: 'warden-client-secret' } : {}),
  });
  const config = parseTicketsConfig({
    TICKETS_SYSTEM: 'servicenow',
    SERVICENOW_URL: fake.url,
    SERVICENOW_USER: 'warden.integration',
    SERVICENOW_PASSWORD: 'snow-password',
    ...(oauth
      ? { SERVICENOW_CLIENT_ID: 'warden-client', SERVICENOW_CLIENT_SECRET: 'warden-client-secret' }
      : {}),
    SERVICENOW_INBOUND_TOKEN: INBOUND_TOKEN,
  });
  return {
    variant,
    tickets: createTicketSystem(config, { clock })!,
    config,
    server: fake.server,
    seed: (state) =>
      fake.addRecord({ state: state === 'open' ? '-5' : '3', short_description: 'seeded' }).number,
    comments: (key) => fake.byNumber(key).work_notes.map((n) => n.value),
    status: (key) => fake.byNumber(key).state,
    history: (key) => fake.byNumber(key).history,
    keys: () => [...fake.records.values()].map((r) => r.number),
    outage: (until, options) => fake.outage(until, options),
    unknownKey: 'CHG0999999',
    wholeLife: ['-4', '-3', '-2', '-1', '0', '3'],
    doneStatus: '3',
    stop: () => fake.stop(),
  };
}
