import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_SCOPES } from '../../test/fakes/slack-state.js';

interface Manifest {
  features: { slash_commands: { command: string; url?: string }[]; app_home: { home_tab_enabled: boolean } };
  oauth_config: { scopes: { bot: string[] } };
  settings: {
    socket_mode_enabled: boolean;
    event_subscriptions: { request_url?: string; bot_events: string[] };
    interactivity: { is_enabled: boolean; request_url?: string; message_menu_options_url?: string };
  };
}

function manifest(name: string): Manifest {
  return parse(
    readFileSync(fileURLToPath(new URL(`../../manifest/${name}`, import.meta.url)), 'utf8'),
  ) as Manifest;
}

describe('the Slack app manifests', () => {
  const http = manifest('slack.yaml');
  const socket = manifest('slack-socket-mode.yaml');

  it('point the command, interactivity, options and events at /slack/events over HTTP', () => {
    const urls = [
      http.features.slash_commands[0]!.url,
      http.settings.event_subscriptions.request_url,
      http.settings.interactivity.request_url,
      http.settings.interactivity.message_menu_options_url,
    ];
    expect(urls.every((u) => u?.startsWith('https://') && u.endsWith('/slack/events'))).toBe(true);
    expect(http.settings.socket_mode_enabled).toBe(false);
  });

  it('differ for Socket Mode only in the URLs and the socket switch', () => {
    expect(socket.settings.socket_mode_enabled).toBe(true);
    expect(JSON.stringify(socket)).not.toContain('https://warden.example.com');
    expect(socket.oauth_config.scopes.bot).toEqual(http.oauth_config.scopes.bot);
    expect(socket.settings.event_subscriptions.bot_events).toEqual(
      http.settings.event_subscriptions.bot_events,
    );
  });

  it('ask for the scopes Warden uses, /warden, the Home tab and app_home_opened', () => {
    expect(http.oauth_config.scopes.bot.sort()).toEqual(
      ['chat:write', 'commands', 'files:write', 'im:write', 'users:read', 'users:read.email'].sort(),
    );
    // The fake workspace grants at least these, so the tests run with what the manifest asks for.
    expect(http.oauth_config.scopes.bot.every((s) => DEFAULT_SCOPES.includes(s))).toBe(true);
    expect(http.features.slash_commands.map((c) => c.command)).toEqual(['/warden']);
    expect(http.features.app_home.home_tab_enabled).toBe(true);
    expect(http.settings.event_subscriptions.bot_events).toEqual(['app_home_opened']);
  });
});
