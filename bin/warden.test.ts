import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
// Every run gets a data directory of its own, so nothing here touches ./data.
const scratch = mkdtempSync(path.join(tmpdir(), 'warden-cli-'));

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Run the CLI as a user would, with only the environment given (plus PATH and HOME). */
async function warden(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'bin/warden.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', WARDEN_DATA_DIR: scratch, ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('the warden CLI', () => {
  it('prints its usage with --help and exits 0', async () => {
    const r = await warden(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('usage: warden [command]');
    expect(r.stdout).toContain('token create --user <handle>');
  });

  it('refuses a PORT that is not a number in one line, without a stack trace', async () => {
    const r = await warden(['start'], { PORT: 'eighty' });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('warden: invalid PORT: PORT must be a number\n');
  });

  it('refuses DATABASE_URL without WARDEN_MASTER_KEY, naming the key and how to make one', async () => {
    const r = await warden([], {
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/warden',
      WARDEN_ADMINS: 'ops@example.com',
    });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^warden: missing required value WARDEN_MASTER_KEY: /);
    expect(r.stderr).toContain('openssl rand -base64 32');
    expect(r.stderr).toContain('WARDEN_MASTER_KEY_FILE');
  });

  it('says which database it cannot reach, without printing its password', async () => {
    const r = await warden(['migrate'], {
      DATABASE_URL: 'postgres://warden:s3cret-pw@127.0.0.1:1/warden',
      WARDEN_ADMINS: 'ops@example.com',
      WARDEN_MASTER_KEY: Buffer.alloc(32, 1).toString('base64'),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^warden: cannot use the database at 127\.0\.0\.1:1\/warden as warden \(ECONNREFUSED/,
    );
    expect(r.stderr).not.toContain('s3cret-pw');
  });

  it('rejects an unknown command or option with the usage and exit code 2', async () => {
    const unknown = await warden(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^warden: unknown command "frobnicate"\n\nusage:/);
    const hostile = await warden(['token', 'create', '--user', 'alice', '--evil=$(reboot)']);
    expect(hostile.code).toBe(2);
    expect(hostile.stderr).toContain("Unknown option '--evil'");
  });

  it('asks for the options token create needs', async () => {
    const r = await warden(['token', 'create', '--user', 'alice']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^warden: token create needs --user, --name and --scopes/);
  });
});
