import { AppError } from '../../lib/errors.js';
import type { CommandSpec } from './types.js';

/**
 * Every command runs in the C locale so that its output is the documented English format the
 * parsers read, whatever the server's language.
 */
export const C_LOCALE_ENV: Readonly<Record<string, string>> = Object.freeze({ LANG: 'C', LC_ALL: 'C' });

/** Quotes one argument for a POSIX shell: single quotes, with embedded quotes closed and escaped. */
export function shellQuote(arg: string): string {
  // `=` is quoted too, so that no word can ever be read as a variable assignment.
  if (/^[A-Za-z0-9_./:@%+,-]+$/.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

const ENV_NAME_RE = /^[A-Z_][A-Z0-9_]*$/;

/**
 * Turns a command into the one string an ssh exec channel takes: `env K=V … argv…`, every
 * piece quoted. With `sudo: true` it is prefixed by `sudo -n` (never prompt; fail instead).
 *
 * @example
 * toCommandLine(installCommand('debian', [{ package: 'curl', version: '7.88.1-10+deb12u8' }]), { sudo: true })
 * // => "sudo -n env 'LANG=C' … apt-get … 'curl=7.88.1-10+deb12u8'"
 */
export function toCommandLine(
  spec: Pick<CommandSpec, 'argv' | 'env'>,
  options: { sudo?: boolean } = {},
): string {
  const parts: string[] = [];
  if (options.sudo) parts.push('sudo', '-n');
  const envEntries = Object.entries(spec.env);
  if (envEntries.length > 0) {
    parts.push('env');
    for (const [name, value] of envEntries) {
      // Names come from this module's constants; refuse anything else rather than quote it.
      if (!ENV_NAME_RE.test(name)) {
        throw new AppError(
          'internal',
          `Refusing to build a command with the environment variable name "${name}".`,
        );
      }
      parts.push(shellQuote(`${name}=${value}`));
    }
  }
  for (const arg of spec.argv) parts.push(shellQuote(arg));
  return parts.join(' ');
}
