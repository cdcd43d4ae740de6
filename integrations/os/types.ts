/**
 * The neutral shapes of OS knowledge: what a server runs, what is pending on it, and what went
 * wrong while finding out. Everything in integrations/os/ is pure: these types go in and out of
 * parsers and command builders, and no function here touches a network, a file or a database.
 */

/** The package-manager family decides which commands run and which parser reads them. */
export type OsFamily = 'debian' | 'rhel' | 'suse' | 'alpine' | 'windows' | 'unknown';

/** Families that are scanned over a shell (Windows comes through SSM and Azure instead). */
export type ShellFamily = 'debian' | 'rhel' | 'suse' | 'alpine';

export interface OsInfo {
  family: OsFamily;
  /** os-release `ID`, e.g. `debian`, `ubuntu`, `rocky`, `amzn`, `sles`, `opensuse-leap`, `alpine`. */
  id: string;
  /** os-release `VERSION_ID`, e.g. `12`, `22.04`, `9.3`, `2`, `15.5`, `3.19.1`; '' when unknown. */
  versionId: string;
  prettyName: string;
  codename?: string;
  /** os-release `ID_LIKE`, split on spaces. */
  idLike: string[];
}

export type Classification = 'security' | 'bugfix' | 'enhancement' | 'other';
export type Severity = 'critical' | 'important' | 'moderate' | 'low' | 'unknown';

/** One pending update of one package on one server. */
export interface Finding {
  package: string;
  /** Installed version as the package manager prints it (epoch kept when it is not 0). */
  installedVersion: string;
  candidateVersion: string;
  classification: Classification;
  severity: Severity;
  /** CVE ids, sorted, unique; empty when the package manager does not say (apt, apk). */
  cves: string[];
  /** Advisory / patch ids (RHSA-…, ALAS2-…, SUSE-SLE-…) when the package manager names them. */
  advisories?: string[];
  /** Repository, suite or patch source the candidate comes from. */
  source?: string;
  arch?: string;
  /** True when installing this update usually needs a reboot (kernel, libc, patch metadata). */
  rebootRequired?: boolean;
}

export type ScanProblemKind =
  /** dpkg/apt, rpm/dnf/yum, zypp or apk lock held by another process: retry later. */
  | 'lock_held'
  /** dpkg was interrupted or left packages half-configured: a human must run the fix. */
  | 'dpkg_interrupted'
  /** The rpm database could not be opened or is damaged. */
  | 'rpmdb_broken'
  /** Repositories could not be reached; findings may be stale or missing. */
  | 'repos_unreachable'
  /** A command that the scan needs is not installed. */
  | 'command_missing'
  /** A command failed in a way none of the other kinds describes. */
  | 'command_failed'
  /** A command was stopped by the remote `timeout`. */
  | 'timed_out'
  /** A section the parser needs is absent (connection cut, script killed). */
  | 'missing_output'
  /** Output ends in the middle of a line or section. */
  | 'truncated_output'
  /** Output that does not follow the documented format. */
  | 'unknown_output'
  /** The OS could not be recognised or is not scanned over a shell. */
  | 'unsupported_os';

export interface ScanProblem {
  kind: ScanProblemKind;
  /** `error`: the findings are unusable or missing; `warning`: findings are usable but may be incomplete. */
  severity: 'error' | 'warning';
  /** For the person reading the scan: what happened and what to do next. */
  message: string;
  /** True when running the same scan again later is expected to succeed. */
  retryable: boolean;
  /** Suggested wait before the first retry; see `lockRetryDelaySeconds` for the following ones. */
  retryAfterSeconds?: number;
  /** Exact command a human should run to repair the server, when there is one. */
  fix?: string;
  /** Id of the command whose output raised the problem. */
  commandId?: string;
}

/** What one command printed. `exitCode` is null when it is unknown (killed, output cut). */
export interface CommandOutput {
  stdout: string;
  stderr: string;
  exitCode: number | null;
}

export type CommandOutputs = Readonly<Record<string, CommandOutput>>;

/**
 * One command to run on a server: an argv array (never a shell string) and the environment it
 * needs. A transport that can only send a string (ssh exec) uses `toCommandLine` to quote it.
 */
export interface CommandSpec {
  id: string;
  argv: readonly string[];
  env: Readonly<Record<string, string>>;
  /** True when the command needs root (the caller prefixes `sudo -n`). */
  sudo: boolean;
  /** The transport stops the command after this long. */
  timeoutSeconds: number;
  /** Optional commands may fail or be missing without making the scan fail. */
  optional: boolean;
  description: string;
}

export interface ScanPlan {
  family: ShellFamily;
  commands: readonly CommandSpec[];
}

export interface ScanResult {
  family: OsFamily;
  /** Which output the findings came from, e.g. `apt-get -s dist-upgrade`, `dnf check-update`. */
  method: string;
  findings: Finding[];
  /** Whether the server waits for a reboot now; null when the scan could not tell. */
  rebootRequired: boolean | null;
  /** Already-installed packages that asked for that reboot (Debian's reboot-required.pkgs). */
  rebootPackages?: string[];
  problems: ScanProblem[];
}

/** An exact package version for install and rollback commands. */
export interface PackagePin {
  package: string;
  version: string;
  arch?: string;
}
