/**
 * Debian and Ubuntu: `apt-get -s dist-upgrade` (simulation; its `Inst` lines carry the installed
 * version, the candidate and the archives it comes from), with `apt list --upgradable` as the
 * fallback format. apt prints no severity and no CVE ids, so those stay unknown and empty.
 */
import {
  excerpt,
  missingOutput,
  overlongLines,
  problem,
  truncatedOutput,
  unknownOutput,
  usableLines,
} from './text.js';
import type { CommandOutput, CommandOutputs, Finding, ScanProblem, ScanResult } from './types.js';

export interface ParsedFindings {
  findings: Finding[];
  problems: ScanProblem[];
  /** False when the output had none of the format's landmarks (garbage, another program). */
  recognised: boolean;
}

// `Inst name [installed] (candidate Origin:Version/Archive[, …] [arch])` and optional trailing notes.
const INST_RE = /^Inst (\S+) (?:\[([^\]]*)\] )?\(([^()]*)\)/;
const APT_LANDMARKS =
  /^(Reading package lists|Building dependency tree|Reading state information|Calculating upgrade|NOTE: This is only a simulation|\d+ upgraded, \d+ newly installed|The following |Inst |Conf |Remv |Purg )/;

const REBOOT_PACKAGES =
  /^(linux-image|linux-signed-image|linux-modules|libc6$|dbus$|intel-microcode$|amd64-microcode$)/;

function aptSourceIsSecurity(source: string): boolean {
  // Debian `Debian-Security:12/stable-security`, older `Debian-Security:9/oldstable`
  // (security.debian.org …/updates), Ubuntu `Ubuntu:22.04/jammy-security`, ESM `…-infra-security`.
  return /security/i.test(source) || /\/updates$/.test(source);
}

function aptFinding(
  pkg: string,
  installedVersion: string,
  candidateVersion: string,
  arch: string | undefined,
  sources: string[],
): Finding {
  const securitySource = sources.find(aptSourceIsSecurity);
  const finding: Finding = {
    package: pkg,
    installedVersion,
    candidateVersion,
    classification: securitySource ? 'security' : 'other',
    severity: 'unknown',
    cves: [],
  };
  const source = securitySource ?? sources[0];
  if (source) finding.source = source;
  if (arch) finding.arch = arch;
  if (REBOOT_PACKAGES.test(pkg)) finding.rebootRequired = true;
  return finding;
}

/** Parses `apt-get -s [dist-]upgrade`. Newly installed packages (no `[installed]`) are not findings. */
export function parseAptSimulate(output: CommandOutput, commandId = 'apt-simulate'): ParsedFindings {
  const { lines, cutShort, dropped } = usableLines(output.stdout);
  const findings: Finding[] = [];
  const problems: ScanProblem[] = [];
  const malformed: string[] = overlongLines(dropped);
  let recognised = false;
  lines.forEach((line, index) => {
    if (APT_LANDMARKS.test(line)) recognised = true;
    if (!line.startsWith('Inst ')) return;
    const match = INST_RE.exec(line);
    const parts = match?.[3]?.trim().split(' ') ?? [];
    const archToken = parts.length >= 2 ? parts[parts.length - 1]! : '';
    if (!match || !/^\[[^\]]+\]$/.test(archToken)) {
      if (!(cutShort && index === lines.length - 1)) malformed.push(line);
      return;
    }
    if (match[2] === undefined) return; // a new package pulled in as a dependency, not an upgrade
    const sources = parts
      .slice(1, -1)
      .join(' ')
      .split(',')
      .map((source) => source.trim())
      .filter((source) => source !== '');
    const name = match[1]!.split(':')[0]!;
    findings.push(aptFinding(name, match[2], parts[0]!, archToken.slice(1, -1), sources));
  });
  if (cutShort) problems.push(truncatedOutput(commandId));
  if (malformed.length > 0) problems.push(malformedLines(commandId, malformed));
  return { findings, problems, recognised };
}

// `name/suite[,suite…] candidate arch [upgradable from: installed]`
const LIST_RE = /^([^/\s]+)\/(\S+) (\S+) (\S+) \[upgradable from: ([^\]\s]+)\]$/;

/** Parses `apt list --upgradable` (apt ≥ 1.0). */
export function parseAptList(output: CommandOutput, commandId = 'apt-list'): ParsedFindings {
  const { lines, cutShort, dropped } = usableLines(output.stdout);
  const findings: Finding[] = [];
  const problems: ScanProblem[] = [];
  const malformed: string[] = overlongLines(dropped);
  let recognised = false;
  lines.forEach((line, index) => {
    if (line === '' || /^Listing\.\.\./.test(line) || /^WARNING: apt does not have a stable CLI/.test(line)) {
      recognised = recognised || line.startsWith('Listing');
      return;
    }
    const match = LIST_RE.exec(line);
    if (!match) {
      if (!(cutShort && index === lines.length - 1)) malformed.push(line);
      return;
    }
    recognised = true;
    const suites = match[2]!.split(',').filter((suite) => suite !== '');
    findings.push(aptFinding(match[1]!, match[5]!, match[3]!, match[4]!, suites));
  });
  if (cutShort) problems.push(truncatedOutput(commandId));
  if (malformed.length > 0 && recognised) problems.push(malformedLines(commandId, malformed));
  return { findings, problems, recognised };
}

function malformedLines(commandId: string, lines: string[]): ScanProblem {
  return problem(
    'unknown_output',
    'warning',
    `${lines.length} line(s) of ${commandId} did not follow the documented format and were ignored ` +
      `(first: "${excerpt(lines[0]!, 120)}"). The other findings are usable.`,
    { commandId },
  );
}

/**
 * Problems apt and dpkg report on stderr or stdout: a held lock (retry later), an interrupted
 * dpkg (a human must run the fix), unreachable repositories (results may be stale).
 */
export function detectAptProblems(output: CommandOutput, commandId: string): ScanProblem[] {
  const text = `${output.stderr}\n${output.stdout}`.slice(0, 200_000);
  const problems: ScanProblem[] = [];
  const lock =
    /(?:Could not get lock|Unable to acquire the dpkg frontend lock|Unable to lock the administration directory|Unable to lock directory) ?\(?([^\s)]*)/.exec(
      text,
    );
  if (lock) {
    const holder = /held by process (\d+) \(([^)\n]{1,40})\)/.exec(text);
    problems.push(
      problem(
        'lock_held',
        'error',
        `Another package operation holds the apt/dpkg lock${lock[1] ? ` (${excerpt(lock[1].replace(/\.$/, ''), 80)})` : ''}` +
          `${holder ? `: process ${holder[1]} (${excerpt(holder[2]!, 40)})` : ''}. This is usually unattended-upgrades ` +
          'or another apt run; the scan will be retried with backoff.',
        { commandId, retryable: true, retryAfterSeconds: 15 },
      ),
    );
  }
  if (/dpkg was interrupted, you must manually run '?dpkg --configure -a'?/.test(text)) {
    problems.push(dpkgInterrupted(commandId));
  }
  const fetchFailure = /^(?:W|E): (?:Failed to fetch|Some index files failed to download)[^\n]*/m.exec(text);
  if (fetchFailure || /^Err:\d+ \S+/m.test(text) || /Temporary failure resolving/.test(text)) {
    problems.push(
      problem(
        'repos_unreachable',
        'warning',
        'Some apt repositories could not be reached, so the package lists may be stale and the ' +
          `findings incomplete${fetchFailure ? ` ("${excerpt(fetchFailure[0])}")` : ''}. ` +
          "Check the server's network, proxy and sources.list, then refresh and scan again.",
        { commandId, retryable: true, retryAfterSeconds: 300 },
      ),
    );
  }
  return problems;
}

function dpkgInterrupted(commandId: string, packages: string[] = []): ScanProblem {
  return problem(
    'dpkg_interrupted',
    'error',
    'A previous dpkg run was interrupted and left packages half-installed' +
      `${packages.length > 0 ? ` (${packages.slice(0, 10).join(', ')})` : ''}. No update can be ` +
      'installed until it is repaired: run `sudo dpkg --configure -a` on the server, then scan again.',
    { commandId, fix: 'dpkg --configure -a' },
  );
}

/** `dpkg --audit` prints nothing on a healthy system and lists broken packages otherwise. */
export function parseDpkgAudit(output: CommandOutput, commandId = 'dpkg-audit'): ScanProblem[] {
  if (output.stdout.trim() === '') return [];
  const packages = usableLines(output.stdout)
    .lines.map((line) => /^ (\S+)\s/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined && /^[a-z0-9][a-z0-9+.:-]*$/.test(name));
  return [dpkgInterrupted(commandId, packages)];
}

/**
 * `cat /var/run/reboot-required`: present (exit 0) means a reboot is pending; "No such file"
 * means none. Anything else (permission, killed) leaves it unknown.
 */
export function parseRebootRequiredFile(output: CommandOutput | undefined): boolean | null {
  if (!output) return null;
  if (output.exitCode === 0) return true;
  if (/No such file or directory/.test(output.stderr)) return false;
  return null;
}

const APT_ATTEMPTS = [
  { id: 'apt-simulate', method: 'apt-get -s dist-upgrade', parse: parseAptSimulate },
  { id: 'apt-list', method: 'apt list --upgradable', parse: parseAptList },
] as const;

/**
 * Scan result for a Debian-family server from the outputs of `scanPlan('debian')`: the
 * simulation when it worked, else the `apt list` fallback; plus dpkg health and reboot state.
 */
export function parseDebianScan(outputs: CommandOutputs): ScanResult {
  const problems: ScanProblem[] = [];
  let parsed: ParsedFindings | null = null;
  let method: string = APT_ATTEMPTS[0].method;
  let failure: ScanProblem | null = null;
  let seen = false;
  for (const attempt of APT_ATTEMPTS) {
    const output = outputs[attempt.id];
    if (!output) continue;
    seen = true;
    problems.push(...detectAptProblems(output, attempt.id));
    const candidate = attempt.parse(output, attempt.id);
    if (candidate.recognised && (output.exitCode === 0 || output.exitCode === null)) {
      parsed = candidate;
      method = attempt.method;
      break;
    }
    failure ??=
      candidate.recognised || output.stdout.trim() === ''
        ? aptFailed(attempt.id, output)
        : unknownOutput(attempt.id, output);
  }
  if (!seen) problems.push(missingOutput('apt-simulate'));
  if (parsed) problems.push(...parsed.problems);
  else if (failure && !problems.some((p) => p.severity === 'error')) problems.push(failure);

  const audit = outputs['dpkg-audit'];
  if (audit) problems.push(...parseDpkgAudit(audit));

  return {
    family: 'debian',
    method,
    findings: parsed?.findings ?? [],
    rebootRequired: parseRebootRequiredFile(outputs['reboot-required']),
    problems: firstOfEachKind(problems),
  };
}

/** Both apt commands may report the same held lock; say it once. */
function firstOfEachKind(problems: ScanProblem[]): ScanProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key =
      p.kind === 'unknown_output' || p.kind === 'truncated_output' ? `${p.kind}:${p.commandId}` : p.kind;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function aptFailed(commandId: string, output: CommandOutput): ScanProblem {
  const errorLine = /^E: [^\n]*/m.exec(output.stderr)?.[0];
  return problem(
    'command_failed',
    'error',
    `${commandId} failed (exit ${output.exitCode ?? 'unknown'})` +
      `${errorLine ? `: ${excerpt(errorLine, 200)}` : ''}. Fix the apt error on the server, then scan again.`,
    { commandId },
  );
}
