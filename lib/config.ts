import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { loadSlackConfig, type SlackConfig } from '../bot/slack/config.js';
import { loadTeamsConfig, type TeamsConfig } from '../bot/teams/config.js';
import { type MailConfig, parseMailConfig } from '../integrations/mail/config.js';
import { parseTicketsConfig, type TicketsConfig } from '../integrations/tickets/config.js';

/**
 * Every setting Warden reads from the environment. `loadConfig` is the only reader of
 * `process.env`; everything else receives the parsed `Config`.
 *
 * Secrets may be given directly (`WARDEN_MASTER_KEY=…`) or as a path (`WARDEN_MASTER_KEY_FILE=/run/secrets/…`).
 */
export interface Config {
  port: number;
  host: string;
  /** Unset: embedded mode (PGlite under dataDir, the local console as chat, the local host as a target). */
  databaseUrl: string | undefined;
  embedded: boolean;
  dataDir: string;
  /** 32-byte key (base64 or hex), or undefined in embedded mode until one is generated. */
  masterKey: string | undefined;
  /** Older master keys still accepted for decryption while secrets are re-wrapped. */
  previousMasterKeys: string[];
  admins: string[];
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  publicUrl: string;
  console: boolean;
  /** Seed the demo project and the local users alice and bob (embedded default). */
  demo: boolean;
  /** TICKETS_SYSTEM and its JIRA_* / SERVICENOW_* settings (integrations/tickets/config.ts). */
  tickets: TicketsConfig;
  /** Slack (bot/slack/config.ts); undefined when SLACK_BOT_TOKEN is not set. */
  slack: SlackConfig | undefined;
  /** Teams (bot/teams/config.ts); undefined when TEAMS_APP_ID is not set. */
  teams: TeamsConfig | undefined;
  /** SMTP_URL(_FILE) and MAIL_FROM (integrations/mail/config.ts); undefined when SMTP_URL is not set. */
  mail: MailConfig | undefined;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Keys whose value is a secret: accepted as `KEY` or `KEY_FILE`, and redacted from logs. */
export const SECRET_KEYS = ['WARDEN_MASTER_KEY', 'WARDEN_MASTER_KEY_PREVIOUS', 'DATABASE_URL'] as const;

const bool = (key: string) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], {
      error: `${key} must be true or false`,
    })
    .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

const schema = z.object({
  PORT: z.coerce
    .number({ error: 'PORT must be a number' })
    .int('PORT must be a whole number')
    .min(0, 'PORT must be between 0 and 65535')
    .max(65535, 'PORT must be between 0 and 65535')
    .default(3000),
  HOST: z.string().min(1).optional(),
  DATABASE_URL: z
    .string()
    .regex(
      /^postgres(ql)?:\/\//,
      'DATABASE_URL must start with postgres:// (leave it unset for the embedded database)',
    )
    .optional(),
  WARDEN_DATA_DIR: z.string().min(1).default('./data'),
  WARDEN_MASTER_KEY: z.string().optional(),
  WARDEN_MASTER_KEY_PREVIOUS: z.string().optional(),
  WARDEN_ADMINS: z.string().optional(),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  WARDEN_PUBLIC_URL: z
    .url({ error: 'WARDEN_PUBLIC_URL must be a URL such as https://warden.example.com' })
    .optional(),
  WARDEN_CONSOLE: bool('WARDEN_CONSOLE').optional(),
  WARDEN_DEMO: bool('WARDEN_DEMO').optional(),
});

const HINTS: Record<string, string> = {
  WARDEN_MASTER_KEY:
    'generate one with `openssl rand -base64 32` and set WARDEN_MASTER_KEY or WARDEN_MASTER_KEY_FILE',
  WARDEN_ADMINS: 'set WARDEN_ADMINS to a comma-separated list of admin e-mail addresses',
};

/**
 * A secret given as `KEY` or as `KEY_FILE` (a path whose trimmed content is the value). Setting
 * both, or a file that cannot be read, is a ConfigError naming the key. Every config section uses it.
 */
export function secretFromEnv(env: Record<string, string | undefined>, key: string): string | undefined {
  const file = env[`${key}_FILE`];
  if (!file) return env[key];
  if (env[key]) throw new ConfigError(`set either ${key} or ${key}_FILE, not both`);
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(`${key}_FILE points at ${file}, which cannot be read (${reason}); fix the path`);
  }
}

/** Resolve `KEY_FILE` into `KEY` for secrets, so both spellings work. */
function resolveSecretFiles(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const out = { ...env };
  for (const key of SECRET_KEYS) {
    if (env[`${key}_FILE`]) out[key] = secretFromEnv(env, key);
  }
  return out;
}

/** Decode a 32-byte key given as base64 or hex; throws ConfigError naming `key`. */
export function decodeKey(value: string, key = 'WARDEN_MASTER_KEY'): Buffer {
  const text = value.trim();
  const buf = /^[0-9a-f]{64}$/i.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  if (buf.length !== 32) {
    throw new ConfigError(
      `${key} must be 32 bytes, base64 or hex (got ${buf.length} bytes); ${HINTS.WARDEN_MASTER_KEY}`,
    );
  }
  return buf;
}

/**
 * Parse and validate the environment. Throws a ConfigError whose message is one line naming
 * the key and how to fix it.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const resolved = resolveSecretFiles(env);
  const parsed = schema.safeParse(resolved);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? 'environment');
    throw new ConfigError(`invalid ${key}: ${issue.message}`);
  }
  const v = parsed.data;
  const embedded = !v.DATABASE_URL;
  if (v.WARDEN_MASTER_KEY) decodeKey(v.WARDEN_MASTER_KEY);
  const previousMasterKeys = (v.WARDEN_MASTER_KEY_PREVIOUS ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  for (const k of previousMasterKeys) decodeKey(k, 'WARDEN_MASTER_KEY_PREVIOUS');
  const admins = (v.WARDEN_ADMINS ?? '')
    .split(',')
    .map((a) => a.trim().toLowerCase())
    .filter(Boolean);
  for (const a of admins) {
    if (!z.email().safeParse(a).success) {
      throw new ConfigError(`invalid WARDEN_ADMINS: "${a}" is not an e-mail address; ${HINTS.WARDEN_ADMINS}`);
    }
  }
  if (!embedded) {
    if (!v.WARDEN_MASTER_KEY)
      throw new ConfigError(`missing required value WARDEN_MASTER_KEY: ${HINTS.WARDEN_MASTER_KEY}`);
    if (admins.length === 0)
      throw new ConfigError(`missing required value WARDEN_ADMINS: ${HINTS.WARDEN_ADMINS}`);
  }
  const host = v.HOST ?? (embedded ? '127.0.0.1' : '0.0.0.0');
  return {
    port: v.PORT,
    host,
    databaseUrl: v.DATABASE_URL,
    embedded,
    dataDir: path.resolve(v.WARDEN_DATA_DIR),
    masterKey: v.WARDEN_MASTER_KEY,
    previousMasterKeys,
    admins,
    logLevel: v.LOG_LEVEL,
    publicUrl: (v.WARDEN_PUBLIC_URL ?? `http://localhost:${v.PORT}`).replace(/\/$/, ''),
    console: v.WARDEN_CONSOLE ?? embedded,
    demo: v.WARDEN_DEMO ?? embedded,
    tickets: parseTicketsConfig(env),
    slack: loadSlackConfig(env),
    teams: loadTeamsConfig(env, v.WARDEN_PUBLIC_URL?.replace(/\/$/, '')),
    mail: parseMailConfig(env),
  };
}
