import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../lib/config.js';
import { loadTeamsConfig } from './config.js';

const APP = '11111111-2222-3333-4444-555555555555';
const TENANT = 'AAAAAAAA-2222-3333-4444-555555555555';
const BASE = { TEAMS_APP_ID: APP, TEAMS_APP_PASSWORD: 's3cret', TEAMS_TENANT_ID: TENANT };

function fails(env: Record<string, string>): string {
  try {
    loadTeamsConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('accepted');
}

describe('Teams configuration', () => {
  it('is off without TEAMS_APP_ID, and says which key is missing when half set', () => {
    expect(loadTeamsConfig({})).toBeUndefined();
    expect(fails({ TEAMS_APP_PASSWORD: 'x' })).toMatch(/^missing required value TEAMS_APP_ID/);
    expect(fails({ TEAMS_APP_ID: APP, TEAMS_TENANT_ID: TENANT })).toMatch(
      /^missing required value TEAMS_APP_PASSWORD/,
    );
    expect(fails({ TEAMS_APP_ID: APP, TEAMS_APP_PASSWORD: 'x' })).toMatch(
      /^missing required value TEAMS_TENANT_ID/,
    );
    expect(fails({ ...BASE, TEAMS_APP_ID: 'bot' })).toMatch(/^invalid TEAMS_APP_ID: must be a GUID/);
  });

  it('reads the settings, lower-cases ids and defaults to the public Bot Connector', () => {
    expect(loadTeamsConfig(BASE)).toEqual({
      appId: APP,
      appPassword: 's3cret',
      tenantId: TENANT.toLowerCase(),
      allowedServiceUrls: ['https://smba.trafficmanager.net'],
      defaultChannel: undefined,
    });
    const config = loadTeamsConfig({
      ...BASE,
      TEAMS_ALLOWED_SERVICE_URLS:
        'https://smba.trafficmanager.net/emea/, https://smba.infra.gcc.teams.microsoft.com',
    });
    expect(config?.allowedServiceUrls).toEqual([
      'https://smba.trafficmanager.net',
      'https://smba.infra.gcc.teams.microsoft.com',
    ]);
    expect(fails({ ...BASE, TEAMS_ALLOWED_SERVICE_URLS: 'ftp://x' })).toMatch(/must be an https URL/);
  });

  it("keeps WARDEN_PUBLIC_URL, without a trailing slash, for the links to cards' images", () => {
    expect(loadConfig({ ...BASE })?.teams?.publicUrl).toBeUndefined();
    expect(loadConfig({ ...BASE, WARDEN_PUBLIC_URL: 'https://warden.example.com/' }).teams?.publicUrl).toBe(
      'https://warden.example.com',
    );
  });

  it('reads the password from a file', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'teams-')), 'pw');
    writeFileSync(file, 'from-file\n');
    const { TEAMS_APP_PASSWORD: _, ...rest } = BASE;
    expect(loadTeamsConfig({ ...rest, TEAMS_APP_PASSWORD_FILE: file })?.appPassword).toBe('from-file');
    expect(fails({ ...BASE, TEAMS_APP_PASSWORD_FILE: file })).toBe(
      'set either TEAMS_APP_PASSWORD or TEAMS_APP_PASSWORD_FILE, not both',
    );
  });

  it('refuses the variables the SDK would read in place of Warden settings, in any letter case', () => {
    for (const key of [
      'Connections__serviceConnection__Settings__ClientSecret',
      'clientSecret',
      'TENANTID',
      'MicrosoftAppPassword',
      'connectionsMap__0__ServiceUrl',
    ]) {
      expect(fails({ ...BASE, [key]: 'x' })).toContain(`remove the environment variable ${key}`);
    }
  });
});
