import sshpk from 'sshpk';
import { AppError } from '../../lib/errors.js';

/**
 * Checks one pasted SSH public key and returns its canonical form. Only ed25519, ECDSA
 * (nistp256/384/521) and RSA of at least 3072 bits pass; every refusal says what was wrong and
 * what to send instead. Nothing here ever reaches a shell: the normalized line is rebuilt from the
 * parsed key, and the comment is limited to a plain character set.
 */
export interface ValidatedPublicKey {
  /** The wire type: `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, … */
  type: string;
  bits: number;
  /** `SHA256:…` exactly as `ssh-keygen -l` prints it. */
  fingerprint: string;
  /** `<type> <base64>[ <comment>]`, re-encoded from the parsed key. */
  normalized: string;
  comment: string;
}

const MAX_INPUT = 16 * 1024;
const MAX_COMMENT = 100;
export const MIN_RSA_BITS = 3072;

const ACCEPTED: Record<string, string> = {
  'ssh-ed25519': 'ed25519',
  'ecdsa-sha2-nistp256': 'ecdsa',
  'ecdsa-sha2-nistp384': 'ecdsa',
  'ecdsa-sha2-nistp521': 'ecdsa',
  'ssh-rsa': 'rsa',
};
const CURVE_BITS: Record<string, number> = { nistp256: 256, nistp384: 384, nistp521: 521 };
const NEW_KEY_HINT = 'Make a new one with `ssh-keygen -t ed25519` and send the .pub file.';

// Any word that names an SSH key or certificate type, whether Warden accepts it or not.
const KEY_TYPE_WORD =
  /^(ssh-(ed25519|rsa|dss|ed448)|ecdsa-sha2-nistp\d+|sk-[a-z0-9-]+@openssh\.com|[a-z0-9-]+-cert-v0[01]@openssh\.com)$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
// C0 controls (tab excepted: it separates words), DEL, C1 controls.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this regex's job
const CONTROL = /[\u0000-\u0008\u000A-\u001F\u007F-\u009F]/;
// Bidi overrides and zero-width characters make a line read differently from what it is.
const INVISIBLE = /[\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF]/;
const COMMENT_CHARS = /^[\p{L}\p{N} @._+:/,=#-]*$/u;

function refuse(message: string): AppError {
  return new AppError('bad_request', message);
}

function refusePrivate(): AppError {
  return refuse(
    'that is a PRIVATE key; never paste it anywhere, send the .pub file (e.g. ~/.ssh/id_ed25519.pub). ' +
      'Treat the pasted key as exposed: make a new key pair with `ssh-keygen -t ed25519` and register its .pub file.',
  );
}

function looksPrivate(text: string): boolean {
  return (
    /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text) ||
    /PuTTY-User-Key-File-\d/.test(text) ||
    /^\s*openssh-key-v1/.test(text) ||
    // The base64 of "openssh-key-v1\0", which starts every OpenSSH private key body.
    text.includes('b3BlbnNzaC1rZXktdjE')
  );
}

function checkCharacters(line: string): void {
  if (/[\r\n]/.test(line)) {
    const lines = line.split(/\r?\n|\r/).filter((l) => l.trim() !== '');
    const keyLines = lines.filter((l) =>
      l
        .trim()
        .split(/\s+/)
        .some((w) => KEY_TYPE_WORD.test(w)),
    );
    if (keyLines.length > 1) {
      throw refuse(
        `That text holds ${keyLines.length} keys; register one key at a time (one .pub line each).`,
      );
    }
    throw refuse(
      'The key is broken across several lines. Send the .pub file as it is: one line, "ssh-ed25519 AAAA… comment".',
    );
  }
  const control = CONTROL.exec(line);
  if (control) {
    const code = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
    throw refuse(
      `The key contains a control character (U+${code}) at position ${control.index + 1}. Send the .pub file as plain text.`,
    );
  }
  const invisible = INVISIBLE.exec(line);
  if (invisible) {
    throw refuse(
      `The key contains an invisible character at position ${invisible.index + 1}. Copy the .pub file again, without editing it.`,
    );
  }
}

function refuseType(type: string): AppError {
  if (type === 'ssh-dss') {
    return refuse(`DSA keys are refused: OpenSSH has disabled them as too weak. ${NEW_KEY_HINT}`);
  }
  if (type.includes('-cert-v0')) {
    return refuse(
      'That is an SSH certificate, not a public key. Send the plain .pub file (e.g. id_ed25519.pub, not id_ed25519-cert.pub).',
    );
  }
  if (type.startsWith('sk-')) {
    return refuse(
      `Security-key (FIDO, ${type}) keys are not supported yet. Register a plain ed25519 key instead: ${NEW_KEY_HINT}`,
    );
  }
  return refuse(
    `${type} keys are not accepted; Warden takes ed25519, ECDSA or RSA of ${MIN_RSA_BITS}+ bits. ${NEW_KEY_HINT}`,
  );
}

/** The type name an SSH key blob starts with (uint32 length, then the name), or null. */
function innerType(blob: string): string | null {
  const bytes = Buffer.from(blob, 'base64');
  if (bytes.length < 4) return null;
  const length = bytes.readUInt32BE(0);
  if (length < 1 || length > 64 || bytes.length < 4 + length) return null;
  const name = bytes.subarray(4, 4 + length).toString('latin1');
  return /^[a-z0-9@.-]+$/.test(name) ? name : null;
}

/** See the module comment. Throws AppError('bad_request') with a message for the person who pasted it. */
export function validatePublicKey(text: string): ValidatedPublicKey {
  if (typeof text !== 'string' || text.trim() === '') {
    throw refuse(
      'Paste your public key: the one line of your .pub file, e.g. "ssh-ed25519 AAAA… you@laptop".',
    );
  }
  if (text.length > MAX_INPUT) {
    throw refuse(
      `That is ${text.length} characters; a public key line is at most a few thousand. Send only the .pub file.`,
    );
  }
  if (looksPrivate(text)) throw refusePrivate();
  if (/-{3,5} ?BEGIN SSH2 PUBLIC KEY ?-{3,5}/.test(text)) {
    throw refuse(
      'That is an RFC 4716 (SSH2/PuTTY) public key. Convert it to one OpenSSH line with `ssh-keygen -i -f key.pub` and send that.',
    );
  }
  const line = text.trim();
  checkCharacters(line);
  const words = line.split(/[ \t]+/);
  const typeAt = words.findIndex((w) => KEY_TYPE_WORD.test(w));
  if (typeAt < 0) {
    throw refuse(
      'That is not an SSH public key: it should start with its type, like "ssh-ed25519 AAAA… you@laptop". Send the .pub file.',
    );
  }
  if (typeAt > 0) {
    throw refuse(
      `Remove what comes before "${words[typeAt]}" (authorized_keys options such as from= or command=): send the bare key; Warden sets the options itself.`,
    );
  }
  const type = words[0]!;
  const blob = words[1] ?? '';
  const comment = words.slice(2).join(' ');
  if (words.slice(1).some((w) => KEY_TYPE_WORD.test(w))) {
    throw refuse('That line holds more than one key; register one key at a time.');
  }
  if (!(type in ACCEPTED)) throw refuseType(type);
  if (!BASE64.test(blob) || blob.length < 40) {
    throw refuse(`The key data after "${type}" is missing or cut short. Copy the whole .pub line again.`);
  }
  const inner = innerType(blob);
  if (inner !== null && inner !== type) {
    throw refuse(
      `The key data does not match its type "${type}" (it holds a ${inner} key). Copy the .pub line again, unedited.`,
    );
  }
  let key: sshpk.Key;
  try {
    key = sshpk.parseKey(`${type} ${blob}`, 'ssh');
  } catch (cause) {
    throw new AppError(
      'bad_request',
      `The key data after "${type}" does not decode as an SSH key. Copy the whole .pub line again.`,
      {
        cause,
      },
    );
  }
  const canonical = key.toString('ssh').split(' ');
  if (canonical[0] !== type || canonical[1] !== blob) {
    throw refuse(
      `The key data does not match its type "${type}" (it decodes as ${canonical[0]}). Copy the .pub line again, unedited.`,
    );
  }
  if (ACCEPTED[type] !== key.type) throw refuseType(type);
  let bits = key.size;
  if (key.type === 'rsa' && bits < MIN_RSA_BITS) {
    throw refuse(
      `RSA keys must have at least ${MIN_RSA_BITS} bits; this one has ${bits}. ${NEW_KEY_HINT} (or \`ssh-keygen -t rsa -b 4096\`).`,
    );
  }
  if (key.type === 'ecdsa') bits = CURVE_BITS[key.curve ?? ''] ?? bits;
  if (comment.length > MAX_COMMENT) {
    throw refuse(
      `The comment after the key is ${comment.length} characters; keep it under ${MAX_COMMENT} (e.g. you@laptop).`,
    );
  }
  if (!COMMENT_CHARS.test(comment) || /warden:/i.test(comment)) {
    throw refuse(
      'The comment after the key may only hold letters, digits, spaces and @ . _ + : / , = # - (and not "warden:"). Shorten it to something like you@laptop.',
    );
  }
  return {
    type,
    bits,
    fingerprint: key.fingerprint('sha256').toString(),
    normalized: comment ? `${type} ${blob} ${comment}` : `${type} ${blob}`,
    comment,
  };
}

/** The fingerprint of an OpenSSH public key line Warden made itself (no policy checks). */
export function fingerprintOf(publicKeyLine: string): string {
  const [type, blob] = publicKeyLine.trim().split(/\s+/);
  return sshpk.parseKey(`${type} ${blob}`, 'ssh').fingerprint('sha256').toString();
}
