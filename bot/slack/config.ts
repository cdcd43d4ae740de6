import { z } from 'zod';
import { ConfigError, secretFromEnv } from '../../lib/config.js';

/**
 * Slack's settings, under Slack's usual names. Slack is on when SLACK_BOT_TOKEN is set; it then
 * listens on /slack/events (HTTP, needs the signing secret) or, when SLACK_APP_TOKEN is set,
 * through Socket Mode. Each secret may also be given as a file (`SLACK_BOT_TOKEN_FILE=/run/secrets/…`).
 */
export interface SlackConfig {
  mode: 'http' | 'socket';
  botToken: string;
  /** Required in HTTP mode; Socket Mode requests arrive over the app-token socket instead. */
  signingSecret: string | undefined;
  appToken: string | undefined;
  /** Web API base ending in `/api/` (GovSlack uses another host; tests point it at a fake). */
  apiUrl: string | undefined;
  /** Where notifications of no project (or a project without a Slack channel) go; unset: nowhere. */
  defaultChannel: string | undefined;
}

export const SLACK_SECRET_KEYS = ['SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'SLACK_APP_TOKEN'] as const;

const HINTS = {
  SLACK_BOT_TOKEN:
    "copy the Bot User OAuth Token (xoxb-…) from your Slack app's OAuth & Permissions page into SLACK_BOT_TOKEN or SLACK_BOT_TOKEN_FILE",
  SLACK_SIGNING_SECRET:
    "copy the Signing Secret from your Slack app's Basic Information page into SLACK_SIGNING_SECRET or SLACK_SIGNING_SECRET_FILE (or set SLACK_APP_TOKEN to use Socket Mode)",
  SLACK_APP_TOKEN:
    'create an app-level token with the connections:write scope (Basic Information → App-Level Tokens) and put it in SLACK_APP_TOKEN',
};

export const SlackEnv = z.object({
  SLACK_BOT_TOKEN: z
    .string()
    .trim()
    .regex(/^xoxb-[A-Za-z0-9-]+$/, `must be a bot token starting with xoxb-; ${HINTS.SLACK_BOT_TOKEN}`)
    .optional(),
  SLACK_SIGNING_SECRET: z
    .string()
    .trim()
    .regex(
      /^[A-Za-z0-9]{8,128}$/,
      `must be the app's signing secret (letters and digits); ${HINTS.SLACK_SIGNING_SECRET}`,
    )
    .optional(),
  SLACK_APP_TOKEN: z
    .string()
    .trim()
    .regex(/^xapp-[A-Za-z0-9-]+$/, `must be an app-level token starting with xapp-; ${HINTS.SLACK_APP_TOKEN}`)
    .optional(),
  SLACK_API_URL: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL such as https://slack.com/api/' })
    .optional(),
  SLACK_DEFAULT_CHANNEL: z
    .string()
    .regex(/^[A-Z0-9]{1,32}$/, 'must be a Slack channel id, like C0123ABCD')
    .optional(),
});
export type SlackEnv = z.infer<typeof SlackEnv>;

function readSecretFiles(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const key of Object.keys(SlackEnv.shape)) out[key] = env[key] === '' ? undefined : env[key];
  for (const key of SLACK_SECRET_KEYS) {
    if (env[`${key}_FILE`]) out[key] = secretFromEnv(env, key);
  }
  return out;
}

/**
 * Slack's part of the configuration, or undefined when SLACK_BOT_TOKEN is not set. Throws a
 * one-line ConfigError naming the key and how to fix it.
 */
export function loadSlackConfig(env: Record<string, string | undefined>): SlackConfig | undefined {
  const parsed = SlackEnv.safeParse(readSecretFiles(env));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`invalid ${String(issue.path[0] ?? 'SLACK_*')}: ${issue.message}`);
  }
  const v = parsed.data;
  if (!v.SLACK_BOT_TOKEN) {
    const stray = (['SLACK_SIGNING_SECRET', 'SLACK_APP_TOKEN'] as const).find((k) => v[k]);
    if (stray) {
      throw new ConfigError(
        `missing required value SLACK_BOT_TOKEN (${stray} is set, so Slack is meant to be on): ${HINTS.SLACK_BOT_TOKEN}`,
      );
    }
    return undefined;
  }
  const mode = v.SLACK_APP_TOKEN ? 'socket' : 'http';
  if (mode === 'http' && !v.SLACK_SIGNING_SECRET) {
    throw new ConfigError(`missing required value SLACK_SIGNING_SECRET: ${HINTS.SLACK_SIGNING_SECRET}`);
  }
  let apiUrl = v.SLACK_API_URL;
  if (apiUrl && !apiUrl.endsWith('/')) apiUrl = `${apiUrl}/`;
  return {
    mode,
    botToken: v.SLACK_BOT_TOKEN,
    signingSecret: v.SLACK_SIGNING_SECRET,
    appToken: v.SLACK_APP_TOKEN,
    apiUrl,
    defaultChannel: v.SLACK_DEFAULT_CHANNEL,
  };
}
