import { AppError } from '../../lib/errors.js';

/**
 * SSH `exec` carries one command string that the remote login shell parses, so an argv has to be
 * turned into a string that the shell splits back into exactly the same words. POSIX single quotes
 * make every character literal except `'` itself, which is written as `'\''` (close, escaped
 * quote, reopen). Every element is quoted, even plain ones, so there is no "safe characters" list
 * to get wrong. This holds for sh, dash, bash, ash and zsh; csh and fish login shells are not
 * supported (see ssh/README.md).
 */
export function quoteArg(arg: string): string {
  if (arg.includes('\0')) {
    // A NUL cannot travel in an argv at all: the program would see the argument cut short.
    throw new AppError(
      'bad_request',
      'A command argument contains a NUL byte, which no program can receive.',
    );
  }
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Quotes every element and joins them with spaces: the remote shell rebuilds the same argv. */
export function quoteArgv(argv: readonly string[]): string {
  if (argv.length === 0) throw new AppError('bad_request', 'A command needs at least a program name.');
  return argv.map(quoteArg).join(' ');
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface CommandShape {
  sudo?: boolean;
  env?: Record<string, string>;
}

/**
 * The argv actually run for `argv` with the options: `sudo -n --` first when root is wanted
 * (never prompts: a missing sudo rule fails at once instead of hanging), then `env NAME=value`
 * for variables. `env` is used rather than SSH environment requests, which sshd drops unless
 * AcceptEnv lists them, and rather than sudo's own handling, which resets the environment.
 */
export function commandArgv(argv: readonly string[], options: CommandShape = {}): string[] {
  if (argv.length === 0) throw new AppError('bad_request', 'A command needs at least a program name.');
  const prefix: string[] = [];
  if (options.sudo) prefix.push('sudo', '-n', '--');
  const entries = Object.entries(options.env ?? {});
  if (entries.length > 0) {
    // `--` so that the assignments and a program name starting with `-` are never read as options.
    prefix.push('env', '--');
    for (const [name, value] of entries) {
      if (!ENV_NAME.test(name)) {
        throw new AppError('bad_request', `"${name}" is not a valid environment variable name.`);
      }
      prefix.push(`${name}=${value}`);
    }
  }
  // Both sudo and env read a leading NAME=value word as an assignment, not as the program.
  if (prefix.length > 0 && argv[0]!.includes('=')) {
    throw new AppError('bad_request', 'A program name cannot contain "=" when run through sudo or env.');
  }
  return [...prefix, ...argv];
}
