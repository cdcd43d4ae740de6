import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../lib/config.js';
import { DEFAULT_CHANGE_STATES, parseTicketsConfig } from './config.js';

const JIRA = {
  TICKETS_SYSTEM: 'jira',
  JIRA_URL: 'https://acme.atlassian.net/',
  JIRA_EMAIL: 'warden@example.com',
  JIRA_API_TOKEN: 'token',
  JIRA_PROJECT_KEY: 'OPS',
};

function fails(env: Record<string, string | undefined>): string {
  try {
    parseTicketsConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('parseTicketsConfig accepted the environment');
}

describe('ticket configuration', () => {
  it('is off unless TICKETS_SYSTEM names a system, and loadConfig carries it', () => {
    expect(parseTicketsConfig({})).toEqual({ system: 'none' });
    expect(parseTicketsConfig({ TICKETS_SYSTEM: 'none', JIRA_URL: 'not checked' })).toEqual({
      system: 'none',
    });
    expect(loadConfig({}).tickets).toEqual({ system: 'none' });
    expect(loadConfig(JIRA).tickets.system).toBe('jira');
    expect(fails({ TICKETS_SYSTEM: 'trello' })).toBe(
      'invalid TICKETS_SYSTEM: TICKETS_SYSTEM must be jira, servicenow or none',
    );
  });

  it('reads Jira with defaults, transition names, fields and a secret from a file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tickets-config-'));
    const secretFile = path.join(dir, 'secret');
    writeFileSync(secretFile, 'a-webhook-secret-of-32-characters\n');
    const config = parseTicketsConfig({
      ...JIRA,
      JIRA_TRANSITIONS: '{"approved":"Approve","done":["Review","Close"]}',
      JIRA_FIELDS: '{"components":[{"name":"Servers"}]}',
      JIRA_WEBHOOK_SECRET_FILE: secretFile,
    });
    expect(config).toEqual({
      system: 'jira',
      jira: expect.objectContaining({
        url: 'https://acme.atlassian.net',
        apiVersion: '3',
        issueType: 'Task',
        incidentIssueType: 'Task',
        transitions: {
          approved: ['Approve'],
          'in-progress': ['In Progress'],
          done: ['Review', 'Close'],
          failed: ['Done'],
          cancelled: ['Done'],
        },
        fields: { components: [{ name: 'Servers' }] },
        webhookSecret: 'a-webhook-secret-of-32-characters',
        cancelStatuses: ['Rejected', 'Declined', 'Cancelled', 'Canceled'],
      }),
    });
  });

  it('names the missing or wrong Jira key and how to fix it', () => {
    expect(fails({ ...JIRA, JIRA_URL: undefined })).toMatch(
      /^missing required value JIRA_URL: set it to your Jira site/,
    );
    expect(fails({ ...JIRA, JIRA_API_TOKEN: undefined })).toMatch(/^missing required value JIRA_API_TOKEN/);
    expect(fails({ ...JIRA, JIRA_PROJECT_KEY: 'ops; drop' })).toMatch(/^invalid JIRA_PROJECT_KEY/);
    expect(fails({ ...JIRA, JIRA_API_VERSION: '4' })).toMatch(/^invalid JIRA_API_VERSION/);
    expect(fails({ ...JIRA, JIRA_TRANSITIONS: '{approved: Approve}' })).toMatch(
      /^invalid JIRA_TRANSITIONS: it is not JSON/,
    );
    expect(fails({ ...JIRA, JIRA_TRANSITIONS: '{"shipped":"Ship"}' })).toMatch(/^invalid JIRA_TRANSITIONS/);
    expect(fails({ ...JIRA, JIRA_WEBHOOK_SECRET: 'short' })).toMatch(
      /^invalid JIRA_WEBHOOK_SECRET: must be at least 16/,
    );
    expect(fails({ ...JIRA, JIRA_API_TOKEN: 'x', JIRA_API_TOKEN_FILE: '/nonexistent' })).toBe(
      'set either JIRA_API_TOKEN or JIRA_API_TOKEN_FILE, not both',
    );
    expect(fails({ ...JIRA, JIRA_API_TOKEN: undefined, JIRA_API_TOKEN_FILE: '/nonexistent/token' })).toMatch(
      /^JIRA_API_TOKEN_FILE points at \/nonexistent\/token, which cannot be read/,
    );
  });

  it('reads ServiceNow with basic auth or OAuth', () => {
    const basic = parseTicketsConfig({
      TICKETS_SYSTEM: 'servicenow',
      SERVICENOW_URL: 'https://acme.service-now.com',
      SERVICENOW_USER: 'warden',
      SERVICENOW_PASSWORD: 'pw',
    });
    expect(basic).toMatchObject({
      system: 'servicenow',
      servicenow: {
        auth: { kind: 'basic', user: 'warden', password: 'pw' },
        changeStates: DEFAULT_CHANGE_STATES,
      },
    });
    const oauth = parseTicketsConfig({
      TICKETS_SYSTEM: 'servicenow',
      SERVICENOW_URL: 'https://acme.service-now.com',
      SERVICENOW_CLIENT_ID: 'id',
      SERVICENOW_CLIENT_SECRET: 'secret',
      SERVICENOW_CHANGE_STATES: '{"approved":"-2"}',
    });
    expect(oauth).toMatchObject({
      servicenow: {
        auth: { kind: 'oauth', clientId: 'id', clientSecret: 'secret' },
        changeStates: { approved: ['-2'] },
      },
    });
    expect(
      fails({
        TICKETS_SYSTEM: 'servicenow',
        SERVICENOW_URL: 'https://acme.service-now.com',
        SERVICENOW_USER: 'warden',
      }),
    ).toMatch(/^missing required value SERVICENOW_PASSWORD/);
    expect(
      fails({
        TICKETS_SYSTEM: 'servicenow',
        SERVICENOW_URL: 'https://x.service-now.com',
        SERVICENOW_CLIENT_ID: 'id',
      }),
    ).toMatch(/^missing required value SERVICENOW_CLIENT_SECRET/);
    expect(fails({ TICKETS_SYSTEM: 'servicenow', SERVICENOW_URL: 'ftp://x' })).toMatch(
      /^invalid SERVICENOW_URL/,
    );
  });
});
