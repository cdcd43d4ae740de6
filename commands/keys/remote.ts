import { assertLogin } from '../../integrations/targets/authorized-keys.js';
import { targetError } from '../../integrations/targets/errors.js';
import type { Target } from '../../integrations/targets/types.js';
import { AppError } from '../../lib/errors.js';

/**
 * The fixed script that removes a key from a login's authorized_keys by its base64 body, whatever
 * options or comment the line carries and whoever wrote it (the first service key is usually put
 * there by hand, without Warden's tag). Like the shared key script it is a constant: the login and
 * the key body arrive as positional arguments. It writes a temporary file in the same directory
 * and renames it over the old one (a reader sees the old or the new file, never half), keeps the
 * mode and owner, refuses symbolic links, and re-reads the result to prove the key is gone.
 */
export const REMOVE_KEY_SCRIPT = `set -eu
login=$1 blob=$2
fail() { printf 'warden-keys: %s\\n' "$2" >&2; exit "$1"; }
case $login in ''|*[!a-z0-9_-]*) fail 2 'invalid login name' ;; esac
case $blob in ''|*[!A-Za-z0-9+/=]*) fail 2 'invalid key' ;; esac
WARDEN_BLOB=$blob
export WARDEN_BLOB
home=$(getent passwd "$login" 2>/dev/null | cut -d: -f6) || home=
[ -n "$home" ] || fail 3 "there is no user $login on this machine"
file=$home/.ssh/authorized_keys
[ ! -L "$home/.ssh" ] || fail 4 "$home/.ssh is a symbolic link; refusing to edit through it"
[ ! -L "$file" ] || fail 4 "$file is a symbolic link; refusing to edit through it"
if [ ! -f "$file" ]; then echo removed=0; exit 0; fi
me=$(id -u)
mode=$(stat -c %a "$file"); fowner=$(stat -c %u:%g "$file")
tmp=$(mktemp "$home/.ssh/.authorized_keys.warden.XXXXXX")
trap 'rm -f "$tmp"' EXIT
removed=$(WARDEN_OUT=$tmp awk 'BEGIN { b = ENVIRON["WARDEN_BLOB"]; o = ENVIRON["WARDEN_OUT"]; n = 0; printf "" > o }
  { hit = 0; for (i = 1; i <= NF; i++) if ($i == b) hit = 1; if (hit) n++; else print > o }
  END { print n }' "$file")
chmod "$mode" "$tmp"
if [ "$me" = 0 ]; then chown "$fowner" "$tmp"; fi
mv -f "$tmp" "$file"
trap - EXIT
left=$(awk 'BEGIN { b = ENVIRON["WARDEN_BLOB"]; n = 0 } { for (i = 1; i <= NF; i++) if ($i == b) n++ } END { print n }' "$file")
[ "$left" = 0 ] || fail 5 "after removal $left lines still hold the key"
echo "removed=$removed"
`;

const BLOB = /^[A-Za-z0-9+/]+={0,2}$/;

/** Remove every line holding `publicKeyLine`'s key from `login`'s authorized_keys; returns how many. */
export async function removeKeyByBody(
  target: Target,
  login: string,
  publicKeyLine: string,
  options: { sudo: boolean },
): Promise<number> {
  assertLogin(login);
  const blob = publicKeyLine.trim().split(/\s+/)[1] ?? '';
  if (!BLOB.test(blob)) throw new AppError('internal', 'a registered key has no base64 body to remove');
  const result = await target.exec(['sh', '-c', REMOVE_KEY_SCRIPT, 'warden-keys', login, blob], {
    sudo: options.sudo,
    timeoutMs: 60_000,
    maxOutputBytes: 64 * 1024,
  });
  if (result.exitCode !== 0) {
    const reason =
      result.stderr.replace(/^warden-keys: /, '').trim() || `exit ${result.exitCode ?? result.signal}`;
    throw targetError(
      'ssh',
      result.timedOut ? 'timeout' : 'command-failed',
      `Could not remove the old key from ${login}'s authorized_keys on ${target.name}: ${reason}.`,
    );
  }
  return Number(/removed=(\d+)/.exec(result.stdout)?.[1] ?? 0);
}

/**
 * The fixed script the audit report runs on each server: the local accounts, and for every
 * account with a login shell its authorized_keys files. Every line of content is prefixed (`p `
 * for passwd, `k ` for keys) so that nothing in a file can pose as one of the `#` markers, and
 * symbolic links are reported, never followed (root reading through a user's link could disclose
 * any file).
 */
export const AUDIT_ACCOUNTS_SCRIPT = `set -u
echo '#warden-audit 1'
passwd=$(getent passwd 2>/dev/null) || passwd=$(cat /etc/passwd)
printf '%s\\n' "$passwd" | sed 's/^/p /'
printf '%s\\n' "$passwd" | while IFS=: read -r name _pw _uid _gid _gecos home shell; do
  case $shell in ''|*/nologin|*/false|*/sync|*/shutdown|*/halt) continue ;; esac
  [ -n "$home" ] || continue
  for f in "$home/.ssh/authorized_keys" "$home/.ssh/authorized_keys2"; do
    if [ -L "$home/.ssh" ] || [ -L "$f" ]; then printf '#symlink\\t%s\\t%s\\n' "$name" "$f"; continue; fi
    [ -e "$f" ] || continue
    if [ -r "$f" ]; then
      printf '#keys\\t%s\\t%s\\n' "$name" "$f"
      head -c 262144 "$f" | sed 's/^/k /'
      echo
    else
      printf '#unreadable\\t%s\\t%s\\n' "$name" "$f"
    fi
  done
done
echo '#end'
`;

/**
 * The fixed script that gathers sshd's "Accepted publickey" lines since a time: from the journal
 * when there is one, then from the given log files. Lines are prefixed `l ` for the same reason
 * as above; the time and paths are positional arguments.
 */
export const AUDIT_LOGINS_SCRIPT = `set -u
since=$1; shift
if command -v journalctl >/dev/null 2>&1; then
  echo '#journal'
  journalctl -u ssh -u sshd --since "$since" -o short-iso --no-pager -q 2>/dev/null | grep -F 'Accepted publickey' | tail -n 50000 | sed 's/^/l /'
fi
for f in "$@"; do
  [ -f "$f" ] || continue
  if [ -r "$f" ]; then
    printf '#file\\t%s\\n' "$f"
    grep -F 'Accepted publickey' "$f" | tail -n 50000 | sed 's/^/l /'
  else
    printf '#unreadable\\t%s\\n' "$f"
  fi
done
echo '#end'
`;

/** Absolute log paths only, plain characters, no `..`: they travel as argv, but stay boring anyway. */
export const LOG_PATH = /^\/(?!.*\.\.)[A-Za-z0-9._/-]{1,255}$/;
export const DEFAULT_AUTH_LOGS = ['/var/log/auth.log', '/var/log/secure'] as const;

/** "YYYY-MM-DD HH:MM:SS UTC", the form journalctl's --since reads everywhere. */
export function journalTime(at: Date): string {
  return `${at.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}
