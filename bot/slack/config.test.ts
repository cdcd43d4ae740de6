import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import { loadSlackConfig } from './config.js';

const SECRET = 'abcdef0123456789abcdef0123456789';

describe('Slack configuration', () => {
  it('is off without SLACK_BOT_TOKEN', () => {
    expect(loadSlackConfig({})).toBeUndefined();
    expect(loadConfig({}).slack).toBeUndefined();
  });

  it('listens over HTTP with a bot token and a signing secret, and normalises the API URL', () => {
    expect(
      loadSlackConfig({
        SLACK_BOT_TOKEN: 'xoxb-1-2-abc',
        SLACK_SIGNING_SECRET: SECRET,
        SLACK_API_URL: 'https://slack-gov.com/api',
      }),
    ).toEqual({
      mode: 'http',
      botToken: 'xoxb-1-2-abc',
      signingSecret: SECRET,
      appToken: undefined,
      apiUrl: 'https://slack-gov.com/api/',
      defaultChannel: undefined,
    });
  });

  it('uses Socket Mode when SLACK_APP_TOKEN is set, without needing the signing secret', () => {
    expect(loadSlackConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1-A1-2' })).toMatchObject({
      mode: 'socket',
      appToken: 'xapp-1-A1-2',
    });
  });

  it('reads secrets from files', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'slack-cfg-'));
    writeFileSync(path.join(dir, 'token'), 'xoxb-from-file\n');
    writeFileSync(path.join(dir, 'secret'), `${SECRET}\n`);
    const config = loadConfig({
      SLACK_BOT_TOKEN_FILE: path.join(dir, 'token'),
      SLACK_SIGNING_SECRET_FILE: path.join(dir, 'secret'),
    });
    expect(config.slack).toMatchObject({ botToken: 'xoxb-from-file', signingSecret: SECRET });
  });

  it.each([
    [
      { SLACK_BOT_TOKEN: 'xoxb-1' },
      /missing required value SLACK_SIGNING_SECRET: copy the Signing Secret from your Slack app's Basic Information page/,
    ],
    [
      { SLACK_SIGNING_SECRET: SECRET },
      /missing required value SLACK_BOT_TOKEN \(SLACK_SIGNING_SECRET is set/,
    ],
    [
      { SLACK_BOT_TOKEN: 'xoxp-user-token', SLACK_SIGNING_SECRET: SECRET },
      /invalid SLACK_BOT_TOKEN: must be a bot token starting with xoxb-/,
    ],
    [
      { SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xoxb-2' },
      /invalid SLACK_APP_TOKEN: must be an app-level token/,
    ],
    [
      { SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: 'ftp://x' },
      /invalid SLACK_API_URL/,
    ],
    [
      { SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: '$(reboot); rm -rf /' },
      /invalid SLACK_SIGNING_SECRET/,
    ],
    [
      { SLACK_BOT_TOKEN: 'xoxb-1', SLACK_BOT_TOKEN_FILE: '/nope' },
      /set either SLACK_BOT_TOKEN or SLACK_BOT_TOKEN_FILE, not both/,
    ],
    [
      { SLACK_BOT_TOKEN_FILE: '/nonexistent/token' },
      /SLACK_BOT_TOKEN_FILE points at \/nonexistent\/token, which cannot be read \(ENOENT\)/,
    ],
  ])('refuses %o with a message naming the key', (env, message) => {
    expect(() => loadSlackConfig(env)).toThrow(message);
  });
});
