#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type Database, openDatabase, resolveMasterKey, startWarden } from '../bot/main.js';
import { createApprovalSubjects } from '../commands/approvals/subjects.js';
import type { Deps } from '../commands/deps.js';
import { systemClock } from '../lib/clock.js';
import { type Config, ConfigError, loadConfig } from '../lib/config.js';
import { createVault } from '../lib/crypto.js';
import { AppError } from '../lib/errors.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { auditVerify, type CliIo, rewrapSecrets, serviceKeyCreate, tokenCreate, userAdd } from './cli.js';

const USAGE = `usage: warden [command]

commands:
  start                 run Warden (the default)
  migrate               apply pending database migrations and exit
  audit verify          check the audit trail's hash chain; exit 1 at the first broken event
  token create --user <handle> --name <name> --scopes <a,b> [--project <slug>] [--expires 30d]
                        create an API token for a user and print it once
  user add --handle <h> --email <e> [--name <n>] [--role <role> [--project <slug>]]
                        create a user (and bind one role) from the terminal
  service-key create --scope <server|account|default> [--owner <handle>]
                        generate Warden's SSH key for a scope and print its public key
  service-key import --scope <scope> --file <private key> [--owner <handle>]
                        import Warden's SSH key from a file and print its public key
  secrets rewrap        re-wrap every stored secret under the current WARDEN_MASTER_KEY

Configuration comes from the environment (see README.md). In embedded mode (no DATABASE_URL)
the data directory is locked: stop a running Warden before running the other commands.`;

class UsageError extends Error {}

const io: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** Run `fn` with the database open and a Deps for the administrative commands. */
async function withDeps(config: Config, log: Logger, fn: (deps: Deps, db: Database) => Promise<number>) {
  const db = await openDatabase(config, log);
  try {
    const deps: Deps = {
      sql: db.sql,
      clock: systemClock,
      log,
      vault: createVault(resolveMasterKey(config, log), config.previousMasterKeys),
      config: { publicUrl: config.publicUrl, embedded: config.embedded, admins: config.admins },
      chatPlatforms: config.console ? ['console'] : [],
      approvalSubjects: createApprovalSubjects(),
    };
    return await fn(deps, db);
  } finally {
    await db.close();
  }
}

async function start(config: Config): Promise<void> {
  const log = createLogger(config.logLevel);
  const warden = await startWarden({ config, log });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log.warn(`${signal} again: exiting without waiting`);
      process.exit(1);
    }
    log.info(`${signal}: finishing running work, then exiting (send ${signal} again to exit at once)`);
    warden.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

async function run(argv: string[]): Promise<number | undefined> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      user: { type: 'string' },
      name: { type: 'string' },
      scopes: { type: 'string' },
      project: { type: 'string' },
      expires: { type: 'string' },
      handle: { type: 'string' },
      email: { type: 'string' },
      role: { type: 'string' },
      scope: { type: 'string' },
      file: { type: 'string' },
      owner: { type: 'string' },
    },
  });
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const command = positionals.join(' ') || 'start';
  const known = [
    'start',
    'migrate',
    'audit verify',
    'token create',
    'secrets rewrap',
    'user add',
    'service-key create',
    'service-key import',
  ];
  if (!known.includes(command)) throw new UsageError(`unknown command "${command}"`);
  const config = loadConfig();
  // Administrative commands keep stdout for their result; the log goes to stderr.
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr);

  switch (command) {
    case 'start':
      await start(config);
      return undefined;
    case 'migrate': {
      const db = await openDatabase(config, log);
      await db.close();
      io.out(db.applied.length ? `applied: ${db.applied.join(', ')}` : 'ok: the schema is up to date');
      return 0;
    }
    case 'audit verify':
      return withDeps(config, log, (deps) => auditVerify(deps, io));
    case 'token create': {
      const { user, name, scopes, project, expires } = values;
      if (!user || !name || !scopes) throw new UsageError('token create needs --user, --name and --scopes');
      return withDeps(config, log, (deps) => tokenCreate(deps, { user, name, scopes, project, expires }, io));
    }
    case 'user add': {
      const { handle, email, name, role, project } = values;
      if (!handle || !email) throw new UsageError('user add needs --handle and --email');
      if (project && !role) throw new UsageError('user add takes --project only with --role');
      return withDeps(config, log, (deps) => userAdd(deps, { handle, email, name, role, project }, io));
    }
    case 'service-key create':
    case 'service-key import': {
      const { scope, file, owner } = values;
      if (!scope) throw new UsageError(`${command} needs --scope`);
      if (command === 'service-key import' && !file) throw new UsageError('service-key import needs --file');
      if (command === 'service-key create' && file)
        throw new UsageError('use service-key import to import --file');
      let privateKey: string | undefined;
      if (file) {
        try {
          privateKey = readFileSync(file, 'utf8');
        } catch (error) {
          throw new AppError(
            'bad_request',
            `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
          );
        }
      }
      return withDeps(config, log, (deps) => serviceKeyCreate(deps, { scope, owner, privateKey }, io));
    }
    default: {
      return withDeps(config, log, async (deps) => {
        const r = await rewrapSecrets(deps);
        io.out(`ok: re-wrapped ${r.rewrapped} of ${r.total} secrets under master key ${r.keyId}`);
        return 0;
      });
    }
  }
}

run(process.argv.slice(2)).then(
  (code) => {
    // `start` keeps running; the others exit even if a pool left a timer behind.
    if (code !== undefined) process.exit(code);
  },
  (error: unknown) => {
    if (error instanceof ConfigError || error instanceof AppError) {
      process.stderr.write(`warden: ${error.message.replace(/\s*\n\s*/g, ' ')}\n`);
      process.exit(1);
    }
    const parseError = (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    if (error instanceof UsageError || parseError) {
      process.stderr.write(`warden: ${(error as Error).message}\n\n${USAGE}\n`);
      process.exit(2);
    }
    process.stderr.write(
      `warden: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
