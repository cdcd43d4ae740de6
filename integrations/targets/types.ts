/**
 * The `Target` port: one interface for every machine Warden acts on, whatever reaches it (ssh,
 * local, aws-ssm, azure). Commands are always an argv, never a shell string built from input.
 */
import type { Finding, OsInfo, ScanProblem, ShellFamily } from '../os/types.js';

export type TargetProvider = 'ssh' | 'local' | 'aws-ssm' | 'azure';

export interface ExecOptions {
  /** Kill the command after this long and report `timedOut` (default: the target's command timeout). */
  timeoutMs?: number;
  /** Run as root through `sudo -n` (never prompts). Ignored where the target already runs as root. */
  sudo?: boolean;
  /** Extra environment variables, passed through `env NAME=value` so they reach the command. */
  env?: Record<string, string>;
  /** Written to the command's standard input, which is then closed. */
  stdin?: string;
  /** Cap on each of stdout and stderr; past it the output is dropped and `truncated` is set. */
  maxOutputBytes?: number;
}

export interface ExecResult {
  /** The exit status, or null when the command ended by a signal or never ended (timeout). */
  exitCode: number | null;
  /** The signal name without `SIG` (e.g. `KILL`), when the command was ended by one. */
  signal: string | null;
  stdout: string;
  stderr: string;
  /** True when stdout or stderr passed `maxOutputBytes` and the rest was dropped. */
  truncated: boolean;
  /** True when the command was killed for running past its timeout. */
  timedOut: boolean;
  durationMs: number;
}

export interface ScanOptions {
  timeoutMs?: number;
}

export interface ScanResult {
  os: OsInfo;
  findings: Finding[];
  /** Whether the machine waits for a reboot now; null when the scan could not tell. */
  rebootRequired: boolean | null;
  /** What went wrong or may be incomplete (package lock, unreachable repositories, …). */
  problems: ScanProblem[];
  /** How the scan ran: the transport and the package manager output read, e.g. `ssh: apt-get -s dist-upgrade`. */
  method: string;
  scannedAt: Date;
}

export interface InstallItem {
  package: string;
  /** The exact version to install (as the package manager writes it). */
  version: string;
  arch?: string;
}

export interface InstallOptions {
  timeoutMs?: number;
  /** The package family from the last scan; detected from /etc/os-release when omitted. */
  family?: ShellFamily;
}

export interface InstallItemResult {
  package: string;
  version: string;
  status: 'installed' | 'failed';
  /** For a failure: the tail of the package manager's output, for the person who reads it. */
  detail?: string;
}

export interface InstallResult {
  items: InstallItemResult[];
  /** The last command run. */
  exec: ExecResult;
  /** Why it failed, when it did: `package-lock` (retry later), `timeout`, `command-failed`. */
  failure?: TargetErrorKind;
}

export interface KeyChangeResult {
  login: string;
  tag: string;
  /** How many lines carrying the tag were removed (on add: the ones replaced). */
  removed: number;
  added: boolean;
}

export interface SnapshotResult {
  id: string;
  createdAt: Date;
}

export interface Target {
  readonly provider: TargetProvider;
  /** A readable name for logs and chat, e.g. `deploy@web-1:22`. */
  readonly name: string;
  exec(argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  scan(options?: ScanOptions): Promise<ScanResult>;
  install(items: readonly InstallItem[], options?: InstallOptions): Promise<InstallResult>;
  /**
   * Adds `keyLine` (options, type, key, comment) to `login`'s authorized_keys, marked with `tag`,
   * replacing any line already carrying that tag.
   */
  addAuthorizedKey(login: string, keyLine: string, tag: string): Promise<KeyChangeResult>;
  /** Removes every line marked with `tag` and checks that none is left. */
  removeAuthorizedKey(login: string, tag: string): Promise<KeyChangeResult>;
  /** Only where the provider has snapshots (cloud disks); ssh and local have none. */
  snapshot?(options: { label: string }): Promise<SnapshotResult>;
  /** Ends connections; later calls reconnect. */
  close(): Promise<void>;
}

/** Why a scan or command could not be done, for the scan report and for retries. */
export type TargetErrorKind =
  | 'unreachable'
  | 'auth-failed'
  | 'host-key-changed'
  | 'host-key-unknown'
  | 'timeout'
  | 'package-lock'
  | 'command-failed';
