import sshpk from 'sshpk';
import { AppError } from '../../lib/errors.js';
import { targetError } from './errors.js';
import type { ExecOptions, ExecResult, KeyChangeResult } from './types.js';

export const LOGIN_PATTERN = /^[a-z_][a-z0-9_-]{0,31}$/;
export const KEY_TAG_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$/;
const MAX_KEY_LINE = 16 * 1024;
const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);

/**
 * The one script that edits authorized_keys, on every target. It is a constant: the login, the tag
 * and the key line arrive as positional arguments and standard input, never spliced into its text.
 * It writes a temporary file in the same directory and renames it over the old one, so a reader
 * sees the old file or the new one, never half of one; it keeps the old file's mode and owner,
 * refuses symbolic links (root following a user's link could overwrite any file), and reads the
 * result back to check that the tagged line is there (add) or gone (remove).
 */
export const AUTHORIZED_KEYS_SCRIPT = `set -eu
op=$1 login=$2 tag=$3
fail() { printf 'warden-keys: %s\\n' "$2" >&2; exit "$1"; }
case $login in ''|*[!a-z0-9_-]*) fail 2 'invalid login name' ;; esac
case $tag in ''|*[!A-Za-z0-9._:@+-]*) fail 2 'invalid tag' ;; esac
WARDEN_MARK=" warden:$tag"
export WARDEN_MARK
home=$(getent passwd "$login" 2>/dev/null | cut -d: -f6) || home=
[ -n "$home" ] || home=$(awk -F: -v u="$login" '$1 == u { print $6; exit }' /etc/passwd)
[ -n "$home" ] || fail 3 "there is no user $login on this machine"
dir=$home/.ssh
file=$dir/authorized_keys
[ ! -L "$dir" ] || fail 4 "$dir is a symbolic link; refusing to edit through it"
[ ! -L "$file" ] || fail 4 "$file is a symbolic link; refusing to edit through it"
if [ "$op" = remove ] && [ ! -f "$file" ]; then echo removed=0; exit 0; fi
me=$(id -u)
owner=$(id -u "$login"):$(id -g "$login")
if [ ! -d "$dir" ]; then
  mkdir -m 700 "$dir"
  if [ "$me" = 0 ]; then chown "$owner" "$dir"; fi
fi
mode=600 fowner=$owner
if [ -f "$file" ]; then mode=$(stat -c %a "$file"); fowner=$(stat -c %u:%g "$file"); fi
tmp=$(mktemp "$dir/.authorized_keys.warden.XXXXXX")
trap 'rm -f "$tmp"' EXIT
removed=0
if [ -f "$file" ]; then
  removed=$(WARDEN_OUT=$tmp awk 'BEGIN { m = ENVIRON["WARDEN_MARK"]; o = ENVIRON["WARDEN_OUT"]; n = 0 }
    { if (length($0) >= length(m) && substr($0, length($0) - length(m) + 1) == m) { n++ } else { print > o } }
    END { print n }' "$file")
fi
if [ "$op" = add ]; then
  line=
  IFS= read -r line || [ -n "$line" ] || fail 2 'no key line on standard input'
  printf '%s%s\\n' "$line" "$WARDEN_MARK" >> "$tmp"
fi
chmod "$mode" "$tmp"
if [ "$me" = 0 ]; then chown "$fowner" "$tmp"; fi
mv -f "$tmp" "$file"
trap - EXIT
count=$(awk 'BEGIN { m = ENVIRON["WARDEN_MARK"]; n = 0 }
  length($0) >= length(m) && substr($0, length($0) - length(m) + 1) == m { n++ }
  END { print n }' "$file")
if [ "$op" = add ] && [ "$count" != 1 ]; then fail 5 "after the change $count lines carry the tag instead of 1"; fi
if [ "$op" = remove ] && [ "$count" != 0 ]; then fail 5 "after removal $count lines still carry the tag"; fi
echo "removed=$removed"
`;

export function assertLogin(login: string): void {
  if (!LOGIN_PATTERN.test(login)) {
    throw new AppError(
      'bad_request',
      `"${login}" is not a login name Warden will edit keys for: use lowercase letters, digits, _ and -, up to 32, starting with a letter or _.`,
    );
  }
}

export function assertKeyTag(tag: string): void {
  if (!KEY_TAG_PATTERN.test(tag)) {
    throw new AppError(
      'bad_request',
      `"${tag}" is not a valid key tag: use letters, digits and . _ : @ + -, up to 128, starting with a letter or digit.`,
    );
  }
}

/** Splits an authorized_keys line into words, keeping double-quoted option values whole. */
function words(line: string): string[] {
  const out: string[] = [];
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
      if (current) out.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (quoted) throw new AppError('bad_request', 'The key line has an unclosed double quote in its options.');
  if (current) out.push(current);
  return out;
}

/** Checks that `keyLine` is one authorized_keys line: optional options, then a public key that parses. */
export function assertKeyLine(keyLine: string): void {
  if (keyLine.length === 0 || keyLine.length > MAX_KEY_LINE || /[\r\n\0]/.test(keyLine)) {
    throw new AppError('bad_request', 'The key must be a single authorized_keys line (no line breaks).');
  }
  const parts = words(keyLine.trim());
  const at = KEY_TYPES.has(parts[0] ?? '') ? 0 : 1;
  const type = parts[at];
  const blob = parts[at + 1];
  if (type === undefined || blob === undefined || !KEY_TYPES.has(type)) {
    throw new AppError(
      'bad_request',
      'The key line has no public key: expected e.g. "ssh-ed25519 AAAA… comment".',
    );
  }
  try {
    const key = sshpk.parseKey(`${type} ${blob}`, 'ssh');
    if (key.toString('ssh').split(' ')[1] !== blob) throw new Error('key does not round-trip');
  } catch (cause) {
    throw new AppError(
      'bad_request',
      'The public key in the line does not parse; paste the whole .pub line.',
      {
        cause,
      },
    );
  }
}

export type ExecFn = (argv: readonly string[], options?: ExecOptions) => Promise<ExecResult>;

export interface KeyEdit {
  op: 'add' | 'remove';
  login: string;
  tag: string;
  keyLine?: string;
  /**
   * Whether to run the script through `sudo -n` (needed to edit another login's file unless
   * already root). Asked only after the login is validated; may throw when root is out of reach.
   */
  sudo: (login: string) => boolean;
  timeoutMs?: number;
}

/** Runs the key script through `exec` and turns its exit status into a result or a clear error. */
export async function editAuthorizedKeys(
  integration: string,
  exec: ExecFn,
  edit: KeyEdit,
): Promise<KeyChangeResult> {
  assertLogin(edit.login);
  assertKeyTag(edit.tag);
  if (edit.op === 'add') assertKeyLine(edit.keyLine ?? '');
  const argv = ['sh', '-c', AUTHORIZED_KEYS_SCRIPT, 'warden-keys', edit.op, edit.login, edit.tag];
  const result = await exec(argv, {
    sudo: edit.sudo(edit.login),
    stdin: edit.op === 'add' ? `${edit.keyLine!.trim()}\n` : '',
    timeoutMs: edit.timeoutMs ?? 60_000,
    maxOutputBytes: 64 * 1024,
  });
  const reason = result.stderr.replace(/^warden-keys: /, '').trim();
  if (result.timedOut) {
    throw targetError(
      integration,
      'timeout',
      `Editing ${edit.login}'s authorized_keys timed out; try again.`,
    );
  }
  if (result.exitCode === 3) throw new AppError('not_found', `${reason}. Check the login name.`);
  if (result.exitCode === 4)
    throw new AppError('conflict', `${reason}. Replace the link with a regular file.`);
  if (result.exitCode !== 0) {
    throw targetError(
      integration,
      'command-failed',
      `Could not edit ${edit.login}'s authorized_keys (exit ${result.exitCode ?? result.signal}): ${reason || 'no message'}.`,
      { details: { stderr: result.stderr.slice(-2000) } },
    );
  }
  const removed = Number(/removed=(\d+)/.exec(result.stdout)?.[1] ?? 0);
  return { login: edit.login, tag: edit.tag, removed, added: edit.op === 'add' };
}
