import { AppError, IntegrationError } from '../../lib/errors.js';
import type { Queryable } from '../../storage/db.js';
import type { Deps } from '../deps.js';
import { formatDuration, parseDuration, quoteForMessage } from '../grammar.js';
import { type AccessPolicy, LOGIN } from './policy.js';
import { type CheckedTicket, checkTicket, type UserPublicKey, userPublicKeys } from './ports.js';

/**
 * Checks on what a requester typed. Everything here is data: it is stored, shown and put on the
 * trail, and never reaches a shell (the login is the only word that reaches a server, and it
 * passes LOGIN first).
 */
const MIN_REASON = 3;
const MAX_REASON = 500;
// C0 controls other than tab and newline, DEL and C1 controls; bidi overrides.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this regex's job
const CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/;
const MAX_START_AHEAD_MS = 30 * 86_400_000;

export function checkDuration(text: string | undefined, capMs: number, role: string): number {
  if (!text) throw new AppError('bad_request', 'say for how long: for 2h (or 90m, 1d).');
  const ms = parseDuration(text);
  if (capMs <= 0) {
    throw new AppError('forbidden', 'none of your roles on this project may request access');
  }
  if (ms > capMs) {
    throw new AppError(
      'bad_request',
      `${formatDuration(ms)} is longer than the ${formatDuration(capMs)} your role (${role}) may ask for on this project; ask for ${formatDuration(capMs)} or less, and extend later if needed.`,
    );
  }
  return ms;
}

export function checkLogin(text: string | undefined, policy: AccessPolicy): string {
  const login = text ?? policy.defaultLogin;
  if (!login) {
    throw new AppError(
      'bad_request',
      'say which login to use on the servers: as <login> (this project sets no default).',
    );
  }
  if (!LOGIN.test(login)) {
    throw new AppError(
      'bad_request',
      `${quoteForMessage(login)} is not a login name: use lowercase letters, digits, _ and -, up to 32, starting with a letter or _.`,
    );
  }
  if (login === 'root' && !policy.allowRoot) {
    throw new AppError(
      'forbidden',
      'this project does not grant access as root; ask for a named login instead.',
    );
  }
  return login;
}

export function checkReason(text: string | undefined): string {
  const reason = (text ?? '').trim();
  if (reason.length < MIN_REASON) {
    throw new AppError('bad_request', 'say why you need access, so the approver can decide: reason "…".');
  }
  if (reason.length > MAX_REASON) {
    throw new AppError(
      'bad_request',
      `keep the reason under ${MAX_REASON} characters (it has ${reason.length}).`,
    );
  }
  const bad = CONTROL.exec(reason);
  if (bad) {
    const code = bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
    throw new AppError(
      'bad_request',
      `the reason contains an invisible control character (U+${code}); retype it as plain text.`,
    );
  }
  return reason;
}

/**
 * A ticket is required. In an emergency an unreachable ticket system does not stop the
 * break-glass (the review still sees the unverified ticket); a ticket that is missing or closed does.
 */
export async function checkTicketFor(
  deps: Deps,
  text: string | undefined,
  emergency: boolean,
): Promise<{ ticket: string; verified: boolean; link?: CheckedTicket['link'] }> {
  if (!text?.trim()) {
    throw new AppError('bad_request', 'give the ticket this work is for: ticket OPS-123.');
  }
  try {
    const checked = await checkTicket(deps, text.trim());
    return { ticket: checked.key, verified: true, ...(checked.link ? { link: checked.link } : {}) };
  } catch (error) {
    if (emergency && error instanceof IntegrationError) return { ticket: text.trim(), verified: false };
    throw error;
  }
}

export function checkStart(text: string | undefined, now: Date): Date | null {
  if (!text) return null;
  const at = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(text)
    ? new Date(text)
    : new Date(Number.NaN);
  if (Number.isNaN(at.getTime())) {
    throw new AppError(
      'bad_request',
      `${quoteForMessage(text)} is not a start time: write it like 2026-01-05T14:00Z.`,
    );
  }
  if (at.getTime() < now.getTime() - 5 * 60_000) {
    throw new AppError(
      'bad_request',
      'the start time is in the past; leave start= out to start at approval.',
    );
  }
  if (at.getTime() > now.getTime() + MAX_START_AHEAD_MS) {
    throw new AppError('bad_request', 'the start time is more than 30 days ahead; ask closer to the time.');
  }
  return at;
}

/** The key to grant: the one named by `key=` (fingerprint or id), else the newest registered. */
export async function pickKey(
  sql: Queryable,
  userId: number,
  wanted: string | undefined,
): Promise<UserPublicKey> {
  const keys = await userPublicKeys(sql, userId);
  if (keys.length === 0) {
    throw new AppError(
      'bad_request',
      'you have no registered public key; add one with `keys add "ssh-ed25519 AAAA…"` (ed25519, ECDSA or RSA of 3072 bits or more) and ask again.',
    );
  }
  if (wanted) {
    const found = keys.find((k) => k.fingerprint === wanted || String(k.id) === wanted);
    if (!found) {
      throw new AppError(
        'bad_request',
        `none of your keys is ${quoteForMessage(wanted)}; your keys are ${keys.map((k) => k.fingerprint).join(', ')}.`,
      );
    }
    return found;
  }
  return [...keys].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.id - a.id)[0]!;
}
