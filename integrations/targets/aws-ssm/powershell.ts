import { AppError } from '../../../lib/errors.js';
import { commandArgv } from '../shell-quote.js';

/**
 * PowerShell quoting, for Windows machines reached through SSM (AWS-RunPowerShellScript) and Azure
 * (RunPowerShellScript). In a single-quoted PowerShell string nothing is expanded; a quote is
 * written by doubling it. PowerShell's tokenizer also takes the typographic single quotes
 * U+2018, U+2019, U+201A and U+201B as quote marks, so each of those is doubled as well, or a
 * pasted ’ would end the string and let the rest run as code.
 */
const SINGLE_QUOTES = /['\u2018\u2019\u201A\u201B]/g;

export function quotePowerShell(arg: string): string {
  if (arg.includes('\0')) {
    throw new AppError(
      'bad_request',
      'A command argument contains a NUL byte, which no program can receive.',
    );
  }
  return `'${arg.replace(SINGLE_QUOTES, (quote) => quote + quote)}'`;
}

export interface PowerShellCommand {
  argv: readonly string[];
  env?: Record<string, string>;
  stdin?: string;
}

/**
 * A script that runs `argv` with the call operator (`&`), every element single-quoted, so
 * PowerShell never parses any of it as code; variables are set as `$env:` and standard input is
 * piped in as one string. The exit code is the program's. Windows PowerShell 5.1 rebuilds a
 * command line for native programs and does not escape embedded double quotes; arguments that
 * contain `"` may reach a native program altered there (see the README).
 */
export function powerShellScript(command: PowerShellCommand): string {
  // Validates the names exactly as the shell targets do (and refuses `=` in the program name).
  commandArgv(command.argv, { env: command.env });
  const lines = ["$ErrorActionPreference = 'Continue'"];
  for (const [name, value] of Object.entries(command.env ?? {})) {
    lines.push(`$env:${name} = ${quotePowerShell(value)}`);
  }
  const call = `& ${command.argv.map(quotePowerShell).join(' ')}`;
  lines.push(command.stdin === undefined ? call : `${quotePowerShell(command.stdin)} | ${call}`);
  lines.push('exit $LASTEXITCODE');
  return lines.join('\n');
}
