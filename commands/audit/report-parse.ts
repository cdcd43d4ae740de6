import sshpk from 'sshpk';

/**
 * Pure parsers for what the audit report collects from servers: sshd's "Accepted publickey"
 * lines (journal short-iso, syslog, or sshd -e without a timestamp), the account listing and the
 * authorized_keys files printed by AUDIT_ACCOUNTS_SCRIPT. Nothing here trusts its input: a line
 * that does not parse is reported, never guessed at.
 */
export interface SshdLogin {
  /** When the log line was written; null when the line carries no time (sshd -e). */
  at: Date | null;
  host: string | null;
  pid: number | null;
  user: string;
  from: string;
  port: number;
  /** `ED25519`, `RSA`, `ECDSA`, `ED25519-CERT`, … as sshd prints it. */
  keyType: string;
  /** `SHA256:…` of the key (for a certificate, of the certified key). Null with an old sshd that omits it. */
  fingerprint: string | null;
  certificate: { keyId: string; serial: number; caType: string; caFingerprint: string } | null;
  raw: string;
}

const FP = 'SHA256:[A-Za-z0-9+/]{43}';
// Anchored at the start of sshd's message: user-controlled text elsewhere in a log line (an
// invalid user name, a sudo command line) can never pose as a login.
const ACCEPTED = new RegExp(
  `^Accepted publickey for (\\S+) from (\\S+) port (\\d+) ssh2: (\\S+)(?: (${FP}))?(?: ID (.*) \\(serial (\\d+)\\) CA (\\S+) (${FP}))?(?:, .*)?$`,
);
const ISO_PREFIX = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)(Z|[+-]\d{2}:?\d{2})\s+(\S+)\s+/;
const SYSLOG_PREFIX = /^([A-Z][a-z]{2})\s+(\d{1,2}) (\d{2}):(\d{2}):(\d{2})\s+(\S+)\s+/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
// OpenSSH 9.8+ logs the session as sshd-session.
const SSHD_PROGRAM = /^sshd(?:-session)?(?:\[(\d+)\])?: /;

function isoTime(date: string, zone: string): Date | null {
  const offset = zone === 'Z' ? 'Z' : `${zone.slice(0, 3)}:${zone.slice(-2)}`;
  const at = new Date(`${date}${offset}`);
  return Number.isNaN(at.getTime()) ? null : at;
}

/**
 * Syslog lines carry no year and no zone: the year is the one that puts the line at or before
 * `now` (a December line read in January is last year's), and the time is read as UTC.
 */
function syslogTime(m: RegExpExecArray, now: Date): Date | null {
  const month = MONTHS.indexOf(m[1]!);
  if (month < 0) return null;
  const year = now.getUTCFullYear();
  const make = (y: number) =>
    new Date(Date.UTC(y, month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])));
  const candidate = make(year);
  return candidate.getTime() > now.getTime() + 86_400_000 ? make(year - 1) : candidate;
}

/**
 * One log line → the login it records, or null when it is not sshd's "Accepted publickey" line.
 * Takes journal short-iso and syslog lines (with sshd's program tag), and sshd -e's bare messages.
 */
export function parseSshdLine(text: string, now: Date): SshdLogin | null {
  // sshd -e ends its lines with CRLF; a log copied from Windows may too.
  const line = text.replace(/\s+$/, '');
  let at: Date | null = null;
  let host: string | null = null;
  let pid: number | null = null;
  let message = line;
  const iso = ISO_PREFIX.exec(line);
  const syslog = iso ? null : SYSLOG_PREFIX.exec(line);
  if (iso || syslog) {
    if (iso) {
      at = isoTime(iso[1]!, iso[2]!);
      host = iso[3]!;
    } else {
      at = syslogTime(syslog!, now);
      host = syslog![6]!;
    }
    const rest = line.slice((iso ?? syslog)![0].length);
    const program = SSHD_PROGRAM.exec(rest);
    if (!program) return null;
    pid = program[1] ? Number(program[1]) : null;
    message = rest.slice(program[0].length);
  }
  const match = ACCEPTED.exec(message);
  if (!match) return null;
  const port = Number(match[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return null;
  return {
    at,
    host,
    pid,
    user: match[1]!,
    from: match[2]!,
    port,
    keyType: match[4]!,
    fingerprint: match[5] ?? null,
    certificate: match[9]
      ? { keyId: match[6]!, serial: Number(match[7]), caType: match[8]!, caFingerprint: match[9] }
      : null,
    raw: line.length > 400 ? `${line.slice(0, 400)}…` : line,
  };
}

export interface ParsedLogins {
  logins: SshdLogin[];
  /** Where the lines came from: `journal`, `file /var/log/auth.log`. */
  sources: string[];
  unreadable: string[];
}

/**
 * The output of AUDIT_LOGINS_SCRIPT. The journal and a syslog file often hold the same logins;
 * a login is one (user, from, port, fingerprint), since sshd gives every connection its own
 * source port. Lines timed before `since` are dropped; untimed lines are kept.
 */
export function parseLoginsOutput(stdout: string, options: { since: Date; now: Date }): ParsedLogins {
  const out: ParsedLogins = { logins: [], sources: [], unreadable: [] };
  const seen = new Set<string>();
  for (const line of stdout.split(/\r?\n/)) {
    if (line === '#journal') out.sources.push('journal');
    else if (line.startsWith('#file\t')) out.sources.push(`file ${line.slice(6)}`);
    else if (line.startsWith('#unreadable\t')) out.unreadable.push(line.slice(12));
    else if (line.startsWith('l ')) {
      const login = parseSshdLine(line.slice(2), options.now);
      if (!login || (login.at && login.at < options.since)) continue;
      const key = `${login.user}\u0000${login.from}\u0000${login.port}\u0000${login.fingerprint}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.logins.push(login);
    }
  }
  return out;
}

export interface LocalAccount {
  user: string;
  uid: number;
  home: string;
  shell: string;
  /** Not nologin, false, sync, shutdown or halt. */
  loginShell: boolean;
}

export interface AuthorizedKeyEntry {
  user: string;
  file: string;
  line: number;
  /** The authorized_keys options before the key (from=, command=, expiry-time=, …), as written. */
  options: string;
  type: string | null;
  fingerprint: string | null;
  comment: string;
  /** The `warden:<tag>` mark when Warden wrote the line. */
  tag: string | null;
  /** Why the line could not be read as a key, when it could not. */
  error: string | null;
}

export interface ParsedAccounts {
  complete: boolean;
  accounts: LocalAccount[];
  keys: AuthorizedKeyEntry[];
  unreadable: { user: string; file: string }[];
  symlinks: { user: string; file: string }[];
}

const NOT_A_LOGIN_SHELL = /(^$|\/nologin$|\/false$|\/sync$|\/shutdown$|\/halt$)/;
const KEY_TYPE =
  /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-[a-z0-9-]+@openssh\.com|[a-z0-9-]+-cert-v01@openssh\.com)$/;

function splitWords(line: string): string[] {
  const words: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (ch === '\\' && quoted && i + 1 < line.length) {
      current += ch + line[i + 1];
      i++;
    } else if (ch === '"') {
      quoted = !quoted;
      current += ch;
    } else if ((ch === ' ' || ch === '\t') && !quoted) {
      if (current) words.push(current);
      current = '';
    } else current += ch;
  }
  if (current) words.push(current);
  return words;
}

/** One authorized_keys line (already known not to be blank or a # comment). */
export function parseAuthorizedKeyLine(text: string): Omit<AuthorizedKeyEntry, 'user' | 'file' | 'line'> {
  const words = splitWords(text.trim());
  const at = words.findIndex((w) => KEY_TYPE.test(w));
  const tagMatch = / warden:([A-Za-z0-9][A-Za-z0-9._:@+-]{0,127})$/.exec(text.trimEnd());
  const base = { options: at > 0 ? words.slice(0, at).join(' ') : '', tag: tagMatch?.[1] ?? null };
  if (at < 0 || at > 1 || !words[at + 1]) {
    return { ...base, type: null, fingerprint: null, comment: '', error: 'not a key line' };
  }
  const type = words[at]!;
  const comment = words
    .slice(at + 2)
    .join(' ')
    .replace(/ ?warden:[A-Za-z0-9._:@+-]+$/, '');
  try {
    const key = sshpk.parseKey(`${type.replace(/-cert-v01@openssh\.com$/, '')} ${words[at + 1]}`, 'ssh');
    return { ...base, type, fingerprint: key.fingerprint('sha256').toString(), comment, error: null };
  } catch {
    return { ...base, type, fingerprint: null, comment, error: 'the key does not decode' };
  }
}

/** The output of AUDIT_ACCOUNTS_SCRIPT. `complete` is false when the output was cut short. */
export function parseAccountsOutput(stdout: string): ParsedAccounts {
  const out: ParsedAccounts = { complete: false, accounts: [], keys: [], unreadable: [], symlinks: [] };
  let file: { user: string; file: string; line: number } | null = null;
  for (const line of stdout.split(/\r?\n/)) {
    if (line.startsWith('p ')) {
      const fields = line.slice(2).split(':');
      if (fields.length < 7) continue;
      const shell = fields.slice(6).join(':');
      const uid = Number(fields[2]);
      out.accounts.push({
        user: fields[0]!,
        uid: Number.isInteger(uid) ? uid : -1,
        home: fields[5]!,
        shell,
        loginShell: !NOT_A_LOGIN_SHELL.test(shell),
      });
    } else if (line.startsWith('k ') || line === 'k') {
      if (!file) continue;
      file.line += 1;
      const text = line.slice(2);
      if (text.trim() === '' || text.trimStart().startsWith('#')) continue;
      out.keys.push({ user: file.user, file: file.file, line: file.line, ...parseAuthorizedKeyLine(text) });
    } else if (line.startsWith('#keys\t')) {
      const [, user, path] = line.split('\t');
      file = { user: user ?? '', file: path ?? '', line: 0 };
    } else if (line.startsWith('#unreadable\t') || line.startsWith('#symlink\t')) {
      const [marker, user, path] = line.split('\t');
      (marker === '#symlink' ? out.symlinks : out.unreadable).push({ user: user ?? '', file: path ?? '' });
      file = null;
    } else if (line === '#end') {
      out.complete = true;
      file = null;
    }
  }
  return out;
}
