import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { connect, targetFromUrl } from '../storage/db.js';
import { getUserByEmail } from '../storage/users.js';
import { startWarden, type Warden } from './main.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

/** A logger whose lines the test can read. */
function capturingLogger() {
  const lines: string[] = [];
  return { lines, log: createLogger('info', { write: (line: string) => lines.push(line) }) };
}

/** Run the CLI as a user would; resolves with its exit code and output, whatever the code. */
async function cli(args: string[], env: Record<string, string>) {
  const clean = { ...process.env };
  delete clean.DATABASE_URL;
  delete clean.WARDEN_MASTER_KEY;
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'bin/warden.ts', ...args], {
      cwd: ROOT,
      env: { ...clean, LOG_LEVEL: 'warn', ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('startWarden, embedded', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'warden-main-'));
  const captured = capturingLogger();
  let warden: Warden;

  beforeAll(async () => {
    const config = loadConfig({ WARDEN_DATA_DIR: dir, PORT: '0' });
    warden = await startWarden({ config, log: captured.log });
  }, 120_000);

  afterAll(async () => {
    await warden?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('listens on loopback on the port it was given (0: any free one) and says so in one line', () => {
    expect(warden.port).toBeGreaterThan(0);
    expect(warden.url).toBe(`http://localhost:${warden.port}`);
    const ready = captured.lines.filter((l) => l.includes('Warden is ready at'));
    expect(ready).toHaveLength(1);
    expect(ready[0]).toMatch(
      new RegExp(`Warden is ready at http://localhost:${warden.port} \\(started in [\\d.]+ s\\)`),
    );
    expect(captured.lines.some((l) => l.includes('created the embedded database'))).toBe(true);
  });

  it('answers /healthz and /readyz with 200', async () => {
    const health = await fetch(`http://127.0.0.1:${warden.port}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${warden.port}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ checks: { database: 'ok', scheduler: 'ok' } });
  });

  it('answers /warden help typed by alice in the demo channel of the console', async () => {
    const res = await fetch(`http://127.0.0.1:${warden.port}/console/api/command`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ as: 'alice', channel: 'demo', text: '/warden help' }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { messages: { author: string; body: { header?: string } }[] };
    const reply = body.messages.find((m) => m.author === 'warden');
    expect(reply?.body.header).toBe('Warden commands');
  });

  it('generates a master key readable by its owner only, and warns to back it up', () => {
    const file = path.join(dir, 'master.key');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64')).toHaveLength(32);
    const warning = captured.lines.find((l) => l.includes('WARNING: generated a new master key'));
    expect(warning).toContain('back it up');
    expect(warning).toContain('WARDEN_MASTER_KEY');
  });

  it('refuses a second instance on the same data directory in one line naming the pid and WARDEN_DATA_DIR', async () => {
    const second = await cli(['start'], { WARDEN_DATA_DIR: dir, PORT: '0' });
    expect(second.code).toBe(1);
    expect(second.stderr).toBe(
      `warden: another Warden (pid ${process.pid}) is already using ${dir}; stop it first, or set WARDEN_DATA_DIR to another directory\n`,
    );
  }, 60_000);

  it('releases the data directory on stop(), so the next start on it works and keeps the same key', async () => {
    const key = readFileSync(path.join(dir, 'master.key'), 'utf8');
    // What a crash after an acknowledgement leaves: a command committed but never finished.
    const [left] = await warden.deps.sql<{ id: number }[]>`
      insert into interactions (platform, dedupe_key, user_ref, kind, body)
      values ('console', 'left-by-a-crash', 'console:alice', 'command', ${warden.deps.sql.json({ text: 'scan demo' })})
      returning id`;
    await warden.stop();
    await expect(fetch(`http://127.0.0.1:${warden.port}/healthz`)).rejects.toThrow();

    const again = capturingLogger();
    warden = await startWarden({ config: loadConfig({ WARDEN_DATA_DIR: dir, PORT: '0' }), log: again.log });
    expect((await fetch(`http://127.0.0.1:${warden.port}/healthz`)).status).toBe(200);
    expect(readFileSync(path.join(dir, 'master.key'), 'utf8')).toBe(key);
    expect(again.lines.some((l) => l.includes('opened the embedded database'))).toBe(true);
    expect(again.lines.some((l) => l.includes('generated a new master key'))).toBe(false);
    // This is the only process on the directory, so the start-up sweep takes it and tells alice.
    const [swept] = await warden.deps.sql<{ status: string; error: string }[]>`
      select status, error from interactions where id = ${left!.id}`;
    expect(swept).toEqual({ status: 'failed', error: 'interrupted' });
    const told = await warden.deps.sql<{ text: string }[]>`
      select payload->'reply'->>'text' as text from outbox where kind = 'direct'`;
    expect(told.map((t) => t.text)).toEqual([expect.stringContaining(`reference #${left!.id}`)]);
    // The demo was seeded once: the second boot adds nobody.
    const [users] = await warden.deps.sql<{ n: number }[]>`select count(*)::int as n from users`;
    expect(users!.n).toBe(2);
  }, 120_000);

  it('as a process, exits 0 on SIGTERM after stopping cleanly, and leaves the directory unlocked', async () => {
    await warden.stop();
    const clean = { ...process.env };
    delete clean.DATABASE_URL;
    delete clean.WARDEN_MASTER_KEY;
    const child = spawn(process.execPath, ['--import', 'tsx', 'bin/warden.ts', 'start'], {
      cwd: ROOT,
      env: { ...clean, WARDEN_DATA_DIR: dir, PORT: '0', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Warden is ready at')) resolve();
      });
      child.stderr.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      void exited.then((code) =>
        reject(new Error(`warden exited (${code}) before it was ready:\n${output}`)),
      );
    });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('Warden stopped');
    expect(existsSync(path.join(dir, 'warden.lock'))).toBe(false);
  }, 60_000);
});

// Production mode needs a whole database of its own (it migrates the public schema).
describe.runIf(process.env.TEST_DATABASE_URL)('startWarden, PostgreSQL', () => {
  const admin = () => connect(targetFromUrl(process.env.TEST_DATABASE_URL!), { max: 1 });
  const database = `warden_main_${Math.random().toString(36).slice(2, 8)}`;
  let warden: Warden | undefined;

  beforeAll(async () => {
    const sql = admin();
    await sql.unsafe(`create database ${database}`);
    await sql.end();
  });

  afterAll(async () => {
    await warden?.stop();
    const sql = admin();
    await sql.unsafe(`drop database if exists ${database} with (force)`);
    await sql.end();
  });

  it('migrates, seeds the bootstrap admin, serves without the console, and stops cleanly', async () => {
    const url = new URL(process.env.TEST_DATABASE_URL!);
    url.pathname = `/${database}`;
    const config = loadConfig({
      DATABASE_URL: url.toString(),
      WARDEN_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
      WARDEN_ADMINS: 'ops@example.com',
      HOST: '127.0.0.1',
      PORT: '0',
    });
    warden = await startWarden({ config, log: capturingLogger().log });
    expect((await fetch(`http://127.0.0.1:${warden.port}/readyz`)).status).toBe(200);
    // The console is for the embedded mode only: nobody may pick who they are on a shared server.
    expect((await fetch(`http://127.0.0.1:${warden.port}/console/api/users`)).status).toBe(404);
    const ops = await getUserByEmail(warden.deps.sql, 'ops@example.com');
    expect(ops?.handle).toBe('ops');
    await warden.stop();
    warden = undefined;
  }, 60_000);
});
