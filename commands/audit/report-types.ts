import type { KeyKind } from '../../storage/keys.js';
import type { KeyMatch } from './report-match.js';

/** The shapes of the post-action audit report (JSON as the API returns it; CSV flattens them). */
export interface AuditReportInput {
  /** A project slug; or */
  project?: string;
  /** one server by name; neither: every server the caller may audit. */
  server?: string;
  /** Start of the period (default: 7 days ago). */
  since?: Date;
  /** false: trail, registry and grants only, without connecting to the servers. */
  collect?: boolean;
}

export interface ServerRow {
  name: string;
  project: string | null;
  /** The server's owner: who chases its findings. */
  owner: string | null;
  collected: boolean;
  /** What made the evidence incomplete (unreadable files, no log, could not connect). */
  gaps: string[];
}

/** (a) A command or script Warden ran on a server, and for whom. */
export interface CommandRow {
  at: Date;
  server: string;
  /** argv[0] and, for fixed scripts, what the script does: `sh (authorized-keys add)`, `ssh: apt-get -s …`. */
  command: string;
  /** Who it ran for: the person or job that asked (`user:alice`, `job:keys-rotate`, `grant #5`). */
  for: string;
  source: 'trail' | 'scan';
  /** The trail event (`#123 key.rotation.completed`) or the scan status. */
  ref: string;
}

/** (b) One login seen in sshd's log. */
export interface LoginRow {
  server: string;
  at: Date | null;
  login: string;
  from: string;
  port: number;
  keyType: string;
  fingerprint: string | null;
  match: KeyMatch;
  keyId: number | null;
  grantId: number | null;
  user: string | null;
  flagged: boolean;
  note: string;
}

/** (c) A local account with a login shell. */
export interface AccountRow {
  server: string;
  user: string;
  uid: number;
  shell: string;
  home: string;
  known: boolean;
  note: string;
}

/** (c) One authorized_keys entry. */
export interface AuthorizedKeyRow {
  server: string;
  login: string;
  file: string;
  line: number;
  type: string | null;
  fingerprint: string | null;
  comment: string;
  tag: string | null;
  match: KeyMatch;
  keyId: number | null;
  grantId: number | null;
  user: string | null;
  flagged: boolean;
  note: string;
}

/** (d) A key's rotation against its policy. */
export interface KeyRotationRow {
  fingerprint: string;
  kind: KeyKind;
  owner: string;
  purpose: string;
  servers: string[];
  createdAt: Date;
  lastRotatedAt: Date;
  lastUsedAt: Date | null;
  rotationPolicy: string;
  nextRotationAt: Date | null;
  overdue: boolean;
  retired: boolean;
}

export interface Finding {
  severity: 'high' | 'medium' | 'low';
  server: string | null;
  subject: string;
  message: string;
  /** Who should chase it: the server's owner (or the key's owner). */
  chase: string | null;
}

export interface AuditReport {
  generatedAt: Date;
  since: Date;
  scope: { project: string | null; server: string | null };
  servers: ServerRow[];
  commands: CommandRow[];
  logins: LoginRow[];
  accounts: AccountRow[];
  authorizedKeys: AuthorizedKeyRow[];
  keys: KeyRotationRow[];
  findings: Finding[];
}
