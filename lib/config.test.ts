import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, decodeKey, loadConfig } from './config.js';

const KEY = Buffer.alloc(32, 9).toString('base64');
const PRODUCTION = {
  DATABASE_URL: 'postgres://warden:pw@db.internal:5432/warden',
  WARDEN_MASTER_KEY: KEY,
  WARDEN_ADMINS: 'ops@example.com',
};

const dir = mkdtempSync(path.join(tmpdir(), 'warden-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fails(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('loadConfig accepted the environment');
}

describe('loadConfig', () => {
  it('defaults to the embedded mode on loopback port 3000 with the console and the demo', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 3000,
      host: '127.0.0.1',
      databaseUrl: undefined,
      embedded: true,
      dataDir: path.resolve('./data'),
      masterKey: undefined,
      previousMasterKeys: [],
      admins: [],
      logLevel: 'info',
      publicUrl: 'http://localhost:3000',
      console: true,
      demo: true,
    });
  });

  it('in production listens on every interface, without the console or the demo', () => {
    const config = loadConfig(PRODUCTION);
    expect(config).toMatchObject({ embedded: false, host: '0.0.0.0', console: false, demo: false });
    expect(config.admins).toEqual(['ops@example.com']);
  });

  it('reads PORT=0 (any free port) and refuses garbage, naming PORT', () => {
    expect(loadConfig({ PORT: '0' }).port).toBe(0);
    expect(fails({ PORT: 'http' })).toBe('invalid PORT: PORT must be a number');
    expect(fails({ PORT: '80.5' })).toBe('invalid PORT: PORT must be a whole number');
    expect(fails({ PORT: '70000' })).toBe('invalid PORT: PORT must be between 0 and 65535');
    expect(fails({ PORT: '-1' })).toBe('invalid PORT: PORT must be between 0 and 65535');
  });

  it('refuses a DATABASE_URL that is not postgres://, and says how to use the embedded database', () => {
    expect(fails({ ...PRODUCTION, DATABASE_URL: 'mysql://db/warden' })).toBe(
      'invalid DATABASE_URL: DATABASE_URL must start with postgres:// (leave it unset for the embedded database)',
    );
    expect(loadConfig({ ...PRODUCTION, DATABASE_URL: 'postgresql://db/warden' }).embedded).toBe(false);
  });

  it('reads a secret from KEY_FILE, trimming the newline editors add', () => {
    const file = path.join(dir, 'master.key');
    writeFileSync(file, `${KEY}\n`);
    const { WARDEN_MASTER_KEY: _key, ...keyless } = PRODUCTION;
    const config = loadConfig({ ...keyless, WARDEN_MASTER_KEY_FILE: file });
    expect(config.masterKey).toBe(KEY);
    const urlFile = path.join(dir, 'db-url');
    writeFileSync(urlFile, 'postgres://warden:from-file@db/warden\n');
    const { DATABASE_URL: _, ...rest } = PRODUCTION;
    expect(loadConfig({ ...rest, DATABASE_URL_FILE: urlFile }).databaseUrl).toBe(
      'postgres://warden:from-file@db/warden',
    );
  });

  it('names an unreadable KEY_FILE and the reason', () => {
    const missing = path.join(dir, 'nope', 'key');
    expect(fails({ WARDEN_MASTER_KEY_FILE: missing })).toBe(
      `WARDEN_MASTER_KEY_FILE points at ${missing}, which cannot be read (ENOENT); fix the path`,
    );
    expect(fails({ WARDEN_MASTER_KEY_FILE: dir })).toMatch(/which cannot be read \(EISDIR\)/);
    if (process.getuid?.() !== 0) {
      const locked = path.join(dir, 'locked');
      writeFileSync(locked, KEY);
      chmodSync(locked, 0o000);
      expect(fails({ WARDEN_MASTER_KEY_FILE: locked })).toMatch(/\(EACCES\)/);
    }
  });

  it('refuses both KEY and KEY_FILE, since it could not tell which one is meant', () => {
    expect(fails({ WARDEN_MASTER_KEY: KEY, WARDEN_MASTER_KEY_FILE: '/run/secrets/key' })).toBe(
      'set either WARDEN_MASTER_KEY or WARDEN_MASTER_KEY_FILE, not both',
    );
  });

  it('accepts a master key as base64 or hex, and refuses one of the wrong length', () => {
    expect(loadConfig({ WARDEN_MASTER_KEY: 'ab'.repeat(32) }).masterKey).toBe('ab'.repeat(32));
    expect(fails({ WARDEN_MASTER_KEY: 'c2hvcnQ=' })).toMatch(
      /^WARDEN_MASTER_KEY must be 32 bytes, base64 or hex \(got 5 bytes\); generate one with `openssl rand -base64 32`/,
    );
    expect(fails({ WARDEN_MASTER_KEY_PREVIOUS: `${KEY},c2hvcnQ=` })).toMatch(
      /^WARDEN_MASTER_KEY_PREVIOUS must be 32 bytes/,
    );
    expect(
      loadConfig({ WARDEN_MASTER_KEY_PREVIOUS: ` ${KEY} , ${'cd'.repeat(32)} ` }).previousMasterKeys,
    ).toEqual([KEY, 'cd'.repeat(32)]);
    expect(decodeKey(KEY)).toHaveLength(32);
  });

  it('lower-cases admin e-mails and names the first one that is not an address', () => {
    expect(loadConfig({ WARDEN_ADMINS: ' Ops@Example.com, sec@example.org ,' }).admins).toEqual([
      'ops@example.com',
      'sec@example.org',
    ]);
    expect(fails({ WARDEN_ADMINS: 'ops@example.com, bob' })).toBe(
      'invalid WARDEN_ADMINS: "bob" is not an e-mail address; set WARDEN_ADMINS to a comma-separated list of admin e-mail addresses',
    );
    expect(fails({ WARDEN_ADMINS: 'x@example.com;rm -rf /' })).toMatch(
      /^invalid WARDEN_ADMINS: "x@example.com;rm -rf \/"/,
    );
  });

  it('in production requires a master key and at least one admin, saying how to set each', () => {
    const { WARDEN_MASTER_KEY: _k, ...noKey } = PRODUCTION;
    expect(fails(noKey)).toBe(
      'missing required value WARDEN_MASTER_KEY: generate one with `openssl rand -base64 32` and set WARDEN_MASTER_KEY or WARDEN_MASTER_KEY_FILE',
    );
    const { WARDEN_ADMINS: _a, ...noAdmins } = PRODUCTION;
    expect(fails(noAdmins)).toBe(
      'missing required value WARDEN_ADMINS: set WARDEN_ADMINS to a comma-separated list of admin e-mail addresses',
    );
  });

  it('takes LOG_LEVEL from the list pino knows, and refuses others by listing them', () => {
    expect(loadConfig({ LOG_LEVEL: 'debug' }).logLevel).toBe('debug');
    expect(loadConfig({ LOG_LEVEL: 'silent' }).logLevel).toBe('silent');
    expect(fails({ LOG_LEVEL: 'verbose' })).toBe(
      'invalid LOG_LEVEL: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
    );
  });

  it('reads WARDEN_CONSOLE and WARDEN_DEMO as booleans and WARDEN_PUBLIC_URL as a URL', () => {
    const config = loadConfig({ ...PRODUCTION, WARDEN_CONSOLE: 'yes', WARDEN_DEMO: '0' });
    expect([config.console, config.demo]).toEqual([true, false]);
    expect(fails({ WARDEN_DEMO: 'maybe' })).toBe('invalid WARDEN_DEMO: WARDEN_DEMO must be true or false');
    expect(loadConfig({ WARDEN_PUBLIC_URL: 'https://warden.example.com/' }).publicUrl).toBe(
      'https://warden.example.com',
    );
    expect(fails({ WARDEN_PUBLIC_URL: 'warden.example.com' })).toBe(
      'invalid WARDEN_PUBLIC_URL: WARDEN_PUBLIC_URL must be a URL such as https://warden.example.com',
    );
  });
});
