import { userInfo } from 'node:os';
import { type Clock, systemClock } from '../../../lib/clock.js';
import { AppError } from '../../../lib/errors.js';
import { editAuthorizedKeys } from '../authorized-keys.js';
import { installWithExec } from '../install.js';
import { commandTimeout, DEFAULT_COMMAND_TIMEOUT_MS, outputCap } from '../output.js';
import { scanWithExec } from '../scan.js';
import type { ExecOptions, ExecResult, Target } from '../types.js';
import { execLocal } from './exec.js';

export interface LocalTargetConfig {
  /** Shown in logs and chat (default `local`). */
  name?: string;
  /** Use `sudo -n` for what needs root (installs, other logins' keys) when not already root. */
  sudo?: boolean;
  commandTimeoutMs?: number;
  maxOutputBytes?: number;
}

export interface LocalTargetDeps {
  clock?: Clock;
}

/**
 * The machine Warden runs on, as a Target. Commands run with no shell: `execFile`-style argv
 * straight to the program.
 *
 * @example
 * const local = createLocalTarget({ name: 'warden-host' });
 * const { stdout } = await local.exec(['uname', '-r']);
 */
export function createLocalTarget(config: LocalTargetConfig = {}, deps: LocalTargetDeps = {}): Target {
  const clock = deps.clock ?? systemClock;
  const isRoot = process.getuid?.() === 0;
  const self = userInfo().username;
  const defaultTimeout = config.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const defaultCap = outputCap(config.maxOutputBytes);
  const name = config.name ?? 'local';

  async function exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    return execLocal({
      argv,
      timeoutMs: commandTimeout(options.timeoutMs, defaultTimeout),
      maxOutputBytes: outputCap(options.maxOutputBytes, defaultCap),
      sudo: options.sudo === true && !isRoot,
      env: options.env,
      stdin: options.stdin,
    });
  }

  /** Root is needed unless already root; sudo is used only when configured. */
  function rootVia(what: string): boolean {
    if (isRoot) return false;
    if (config.sudo) return true;
    throw new AppError(
      'forbidden',
      `${what} on ${name} needs root, and Warden runs as ${self} without sudo. Enable sudo for this target or run Warden as root.`,
    );
  }

  const keySudo = (login: string): boolean => (login === self ? false : rootVia(`Editing ${login}'s keys`));

  return {
    provider: 'local',
    name,
    exec,
    scan: async (options = {}) =>
      scanWithExec(exec, { method: 'local', clock, timeoutMs: options.timeoutMs }),
    install: async (items, options = {}) =>
      installWithExec(exec, items, { ...options, sudo: rootVia('Installing packages') }),
    addAuthorizedKey: async (login, keyLine, tag) =>
      editAuthorizedKeys('local', exec, {
        op: 'add',
        login,
        keyLine,
        tag,
        sudo: keySudo,
      }),
    removeAuthorizedKey: async (login, tag) =>
      editAuthorizedKeys('local', exec, {
        op: 'remove',
        login,
        tag,
        sudo: keySudo,
      }),
    close: async () => {},
  };
}
