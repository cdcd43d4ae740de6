import type { Target } from '../../integrations/targets/types.js';
import type { Server } from '../../storage/inventory.js';
import {
  AUDIT_ACCOUNTS_SCRIPT,
  AUDIT_LOGINS_SCRIPT,
  DEFAULT_AUTH_LOGS,
  journalTime,
  LOG_PATH,
} from '../keys/remote.js';
import {
  type ParsedAccounts,
  type ParsedLogins,
  parseAccountsOutput,
  parseLoginsOutput,
} from './report-parse.js';

/**
 * What the audit report reads on one server, through its Target, with two fixed scripts whose
 * inputs (a time and log paths) travel as argv. Root is used through sudo when the server's
 * connection allows it, so other accounts' authorized_keys can be read; without it the report
 * says which files it could not read.
 */
export interface ServerEvidence {
  accounts: ParsedAccounts;
  logins: ParsedLogins;
  /** Things that make the evidence incomplete, for people. */
  gaps: string[];
}

/** Log files to read besides the journal: the project's `settings.audit.authLogPaths`, else the usual ones. */
export function authLogPaths(settings: Record<string, unknown> | undefined): string[] {
  const audit = settings?.audit;
  const configured =
    audit && typeof audit === 'object' ? (audit as Record<string, unknown>).authLogPaths : undefined;
  const paths = Array.isArray(configured)
    ? configured.filter((p): p is string => typeof p === 'string' && LOG_PATH.test(p))
    : [];
  return paths.length ? paths.slice(0, 10) : [...DEFAULT_AUTH_LOGS];
}

export async function collectEvidence(
  target: Target,
  server: Server,
  input: { since: Date; now: Date; logPaths: readonly string[] },
): Promise<ServerEvidence> {
  const sudo = server.connection.sudo === true;
  const gaps: string[] = [];
  const accountsRun = await target.exec(['sh', '-c', AUDIT_ACCOUNTS_SCRIPT, 'warden-audit'], {
    sudo,
    timeoutMs: 60_000,
    maxOutputBytes: 4 * 1024 * 1024,
  });
  const accounts = parseAccountsOutput(accountsRun.stdout);
  if (accountsRun.truncated || !accounts.complete) gaps.push('the account listing was cut short');
  if (accountsRun.exitCode !== 0)
    gaps.push(`the account listing exited ${accountsRun.exitCode ?? accountsRun.signal}`);
  for (const u of accounts.unreadable)
    gaps.push(`could not read ${u.file} (give Warden sudo on ${server.name})`);
  for (const s of accounts.symlinks) gaps.push(`${s.file} is a symbolic link; not followed`);

  const loginsRun = await target.exec(
    ['sh', '-c', AUDIT_LOGINS_SCRIPT, 'warden-audit', journalTime(input.since), ...input.logPaths],
    { sudo, timeoutMs: 120_000, maxOutputBytes: 8 * 1024 * 1024 },
  );
  const logins = parseLoginsOutput(loginsRun.stdout, { since: input.since, now: input.now });
  if (loginsRun.truncated) gaps.push('the login log was cut short; narrow the time range');
  if (!loginsRun.stdout.includes('#end')) gaps.push('the login log could not be read completely');
  for (const f of logins.unreadable) gaps.push(`could not read ${f} (give Warden sudo on ${server.name})`);
  if (logins.sources.length === 0) gaps.push('no sshd log found (no journal and none of the auth log files)');
  return { accounts, logins, gaps };
}
