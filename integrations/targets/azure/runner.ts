import { quotePowerShell } from '../aws-ssm/powershell.js';
import { commandArgv, quoteArg, quoteArgv } from '../shell-quote.js';
import type { ExecOptions } from '../types.js';

/**
 * The script Run Command executes for one exec. Run Command (the action form) returns no exit
 * code, mixes nothing but the last 4,096 bytes of each stream into a status message, and cannot
 * be cancelled. So the script itself does what the transport cannot: it runs the argv under
 * `timeout` (which kills the command's whole process group), keeps stdout and stderr in files,
 * and prints one frame at the end: the first bytes of each stream in base64 (which cannot contain
 * the frame's words), then the exit status, whether it timed out, and the full sizes.
 * Every piece of input is a quoted word or a quoted variable value; the body is constant.
 */

/** Raw bytes of output that fit, base64-encoded with the frame, in Run Command's 4,096. */
export const AZURE_INLINE_OUTPUT_BYTES = 2900;

const RUNNER = `d=$(mktemp -d) || { echo 'warden: mktemp failed' >&2; exit 1; }
trap 'rm -rf "$d"' EXIT
if [ "\${warden_in+set}" = set ]; then printf '%s' "$warden_in" >"$d/in"; else : >"$d/in"; fi
warden_start=$(date +%s)
timeout -k 2 "$warden_t" "$@" <"$d/in" >"$d/out" 2>"$d/err"
rc=$?
warden_end=$(date +%s)
to=0
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  if [ $((warden_end - warden_start)) -ge "$warden_t" ]; then to=1; fi
fi
ob=$(($(wc -c <"$d/out")))
eb=$(($(wc -c <"$d/err")))
ok=$ob; [ "$ok" -le "$warden_cap" ] || ok=$warden_cap; [ "$ok" -le "$warden_budget" ] || ok=$warden_budget
ek=$eb; [ "$ek" -le "$warden_cap" ] || ek=$warden_cap
rest=$((warden_budget - ok)); [ "$ek" -le "$rest" ] || ek=$rest
printf '\\nwarden-begin\\n'
head -c "$ok" "$d/out" | base64 | tr -d '\\n'
printf '\\n'
head -c "$ek" "$d/err" | base64 | tr -d '\\n'
printf '\\nwarden-end rc=%s timedout=%s out=%s err=%s\\n' "$rc" "$to" "$ob" "$eb"`;

export interface RunnerOptions extends Pick<ExecOptions, 'env' | 'stdin'> {
  timeoutSeconds: number;
  maxOutputBytes: number;
}

/** The Run Command `script` lines for an argv on Linux. */
export function linuxRunnerScript(argv: readonly string[], options: RunnerOptions): string[] {
  const words = quoteArgv(commandArgv(argv, { env: options.env }));
  const lines = [
    `set -- ${words}`,
    `warden_t=${Math.max(1, Math.ceil(options.timeoutSeconds))}`,
    `warden_cap=${Math.max(1, Math.floor(options.maxOutputBytes))}`,
    `warden_budget=${AZURE_INLINE_OUTPUT_BYTES}`,
  ];
  if (options.stdin !== undefined) lines.push(`warden_in=${quoteArg(options.stdin)}`);
  return [...lines, ...RUNNER.split('\n')];
}

export interface RunnerResult {
  exitCode: number;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  truncated: boolean;
}

const FRAME =
  /\nwarden-begin\n([A-Za-z0-9+/=]*)\n([A-Za-z0-9+/=]*)\nwarden-end rc=(\d+) timedout=([01]) out=(\d+) err=(\d+)\n/g;

/** Reads the frame out of Run Command's message; null when the runner never printed one. */
export function parseRunnerOutput(message: string): RunnerResult | null {
  const frames = [...message.matchAll(FRAME)];
  const frame = frames.at(-1);
  if (!frame) return null;
  const [, out, err, rc, timedOut, outBytes, errBytes] = frame;
  const stdout = Buffer.from(out!, 'base64');
  const stderr = Buffer.from(err!, 'base64');
  return {
    exitCode: Number(rc),
    timedOut: timedOut === '1',
    stdout: stdout.toString('utf8'),
    stderr: stderr.toString('utf8'),
    truncated: stdout.length < Number(outBytes) || stderr.length < Number(errBytes),
  };
}

/**
 * The Run Command `script` lines for Windows (RunPowerShellScript): every element single-quoted
 * for PowerShell, the exit code printed last (Run Command does not report it). No in-script
 * timeout here: the deadline is the caller's, and the note in the README applies.
 */
export function windowsRunnerScript(
  argv: readonly string[],
  options: Pick<ExecOptions, 'env' | 'stdin'>,
): string[] {
  commandArgv(argv, { env: options.env });
  const lines = Object.entries(options.env ?? {}).map(
    ([name, value]) => `$env:${name} = ${quotePowerShell(value)}`,
  );
  const call = `& ${argv.map(quotePowerShell).join(' ')}`;
  lines.push(options.stdin === undefined ? call : `${quotePowerShell(options.stdin)} | ${call}`);
  lines.push('$warden_rc = $LASTEXITCODE', "Write-Output ''", 'Write-Output "warden-exit=$warden_rc"');
  return lines;
}

export function parseWindowsExit(stdout: string): { stdout: string; exitCode: number | null } {
  const match = /\r?\nwarden-exit=(-?\d*)\r?\n?$/.exec(stdout);
  if (!match) return { stdout, exitCode: null };
  return { stdout: stdout.slice(0, match.index), exitCode: match[1] === '' ? 0 : Number(match[1]) };
}
