import { createHash } from 'node:crypto';
import type { Target } from '../../integrations/targets/types.js';
import { AppError } from '../../lib/errors.js';
import type { AccessPolicy } from './policy.js';

/**
 * The one script that puts Warden's user CA on a server. It is a constant: paths and the reload
 * command arrive as positional arguments (checked again here against a strict character set) and
 * file contents on standard input, never spliced into its text.
 *
 * `revoked` writes the RevokedKeys list only (sshd reads it on every login: no reload).
 * `install` writes the CA key and the list, then makes sshd use them: when the main config
 * includes the drop-in's directory it writes the drop-in, checks the result with `sshd -t` and
 * `sshd -T`, and reloads sshd; any failure puts the previous drop-in back (or removes the new
 * one) so sshd is never left with a config it would refuse. Without that Include it edits no
 * config and says so. Every file is written to a temporary file in its directory and renamed over
 * the old one, so sshd reads the old file or the new one, never half of one (a missing or
 * unreadable RevokedKeys file makes sshd refuse every key). Temporary names never end in .conf,
 * so sshd's Include never picks one up.
 */
export const CA_FILES_SCRIPT = `set -eu
op=$1 ca=$2 revoked=$3 conf=$4 dropin=$5
shift 5
fail() { printf 'warden-ca: %s\\n' "$2" >&2; exit "$1"; }
for p in "$ca" "$revoked" "$conf" "$dropin"; do
  case $p in /*) ;; *) fail 2 "path $p is not absolute" ;; esac
  case $p in *[!A-Za-z0-9._/-]*|*/../*|*/..) fail 2 "path $p has characters Warden will not write to" ;; esac
done
for a in "$@"; do
  case $a in ''|*[!A-Za-z0-9._/@:+=,-]*) fail 2 "reload argument $a has characters Warden will not run" ;; esac
done
tmp= backup= changed=0
trap 'if [ -n "$tmp" ]; then rm -f "$tmp"; fi; if [ -n "$backup" ]; then rm -f "$backup"; fi' EXIT
put() {
  dir=$(dirname "$1")
  [ -d "$dir" ] || fail 3 "directory $dir does not exist"
  [ ! -L "$1" ] || fail 4 "$1 is a symbolic link; refusing to write through it"
  tmp=$(mktemp "$dir/.warden-ca.XXXXXX")
  cat > "$tmp"
  if [ -f "$1" ] && [ "$(sha256sum < "$tmp")" = "$(sha256sum < "$1")" ]; then
    rm -f "$tmp"
  else
    chmod 644 "$tmp"; mv -f "$tmp" "$1"; changed=1
  fi
  tmp=
}
if [ "$op" = install ]; then
  IFS= read -r caline || fail 2 'no CA key on standard input'
  put "$ca" <<EOF
$caline
EOF
fi
put "$revoked"
printf 'ca_sha256=%s\\n' "$(sha256sum "$ca" 2>/dev/null | cut -d' ' -f1)"
printf 'revoked_sha256=%s\\n' "$(sha256sum "$revoked" | cut -d' ' -f1)"
[ "$op" = install ] || exit 0
state=already-current
[ "$changed" = 0 ] || state=installed
[ -r "$conf" ] || fail 3 "cannot read $conf"
dropdir=$(dirname "$dropin")
# sshd reads a relative Include path from /etc/ssh
included=$(awk -v a="$dropdir/*.conf" -v r="\${dropdir#/etc/ssh/}/*.conf" '
  tolower($1) == "include" { for (i = 2; i <= NF; i++) { v = $i; gsub(/"/, "", v); if (v == a || v == r) f = 1 } }
  END { print f ? "yes" : "no" }' "$conf")
names() { awk -v k="$1" -v v="$2" 'tolower($1) == k && $2 == v { f = 1 } END { exit f ? 0 : 1 }' "$conf"; }
if [ "$included" = no ]; then
  if names trustedusercakeys "$ca" && names revokedkeys "$revoked"; then
    printf 'state=%s\\nwhere=sshd_config\\n' "$state"; exit 0
  fi
  printf 'state=needs-manual-include\\n'; exit 0
fi
want="# Written by Warden (ca install); set these paths in the project's access policy, not here.
TrustedUserCAKeys $ca
RevokedKeys $revoked"
if [ -f "$dropin" ] && [ ! -L "$dropin" ] && [ "$(cat "$dropin")" = "$want" ]; then
  printf 'state=%s\\nwhere=drop-in\\n' "$state"; exit 0
fi
sshd=
for s in "$(command -v sshd 2>/dev/null || true)" /usr/sbin/sshd /usr/local/sbin/sshd; do
  if [ -n "$s" ] && [ -x "$s" ]; then sshd=$s; break; fi
done
[ -n "$sshd" ] || fail 5 'sshd was not found (PATH, /usr/sbin, /usr/local/sbin); no drop-in was written'
if [ -f "$dropin" ] && [ ! -L "$dropin" ]; then backup=$(mktemp "$dropdir/.warden-ca.XXXXXX"); cp -p "$dropin" "$backup"; fi
restore() {
  if [ -n "$backup" ]; then mv -f "$backup" "$dropin"; backup=; else rm -f "$dropin"; fi
  fail "$1" "$2"
}
put "$dropin" <<EOF
$want
EOF
out=$("$sshd" -t -f "$conf" 2>&1) || restore 5 "sshd -t refused the new configuration, so the previous one was put back: $(printf '%s' "$out" | head -n 3 | tr '\\n' ' ')"
eff=$("$sshd" -T -f "$conf" 2>/dev/null) || eff=
if [ -n "$eff" ]; then
  printf '%s\\n' "$eff" | grep -qxF "trustedusercakeys $ca" && printf '%s\\n' "$eff" | grep -qxF "revokedkeys $revoked" ||
    restore 6 "sshd takes TrustedUserCAKeys or RevokedKeys from a line read before the Include of $dropdir; remove that line from $conf"
fi
if [ $# -gt 0 ]; then
  how="$*"; "$@" >/dev/null 2>&1 || restore 7 "reloading sshd with '$how' failed; the previous drop-in was put back"
elif [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  how=systemctl
  systemctl reload ssh >/dev/null 2>&1 || systemctl reload sshd >/dev/null 2>&1 ||
    restore 7 'systemctl reload ssh (and sshd) failed; the previous drop-in was put back'
else
  pid=$(cat /run/sshd.pid 2>/dev/null || true)
  case $pid in ''|*[!0-9]*) restore 7 'no systemd and no pid in /run/sshd.pid: cannot reload sshd; the previous drop-in was put back' ;; esac
  how="kill -HUP $pid"
  kill -HUP "$pid" || restore 7 "kill -HUP $pid failed; the previous drop-in was put back"
fi
[ -z "$backup" ] || rm -f "$backup"
backup=
printf 'state=installed\\nwhere=drop-in\\nreload=%s\\n' "$how"
`;

export type CaServerState = 'installed' | 'already-current' | 'needs-manual-include' | 'failed';

export interface CaServerResult {
  server: string;
  state: CaServerState;
  /** What was done or what the admin must do, for the thread and the trail. */
  detail: string;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The RevokedKeys file: one public key per line (sshd also refuses certificates of these keys). */
export function revokedKeysFile(keys: readonly string[]): string {
  return keys.map((k) => `${k.trim().split(/\s+/).slice(0, 2).join(' ')}\n`).join('');
}

/** The two lines an admin adds to sshd_config by hand when it has no Include of the drop-in directory. */
export function sshdLines(ca: AccessPolicy['ca']): string[] {
  return [`TrustedUserCAKeys ${ca.trustedKeysPath}`, `RevokedKeys ${ca.revokedKeysPath}`];
}

function parseOutput(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) out[line.slice(0, at)] = line.slice(at + 1);
  }
  return out;
}

async function runScript(
  target: Target,
  ca: AccessPolicy['ca'],
  content: { caPublicKey: string | null; revokedKeys: readonly string[] },
): Promise<Record<string, string>> {
  const revoked = revokedKeysFile(content.revokedKeys);
  const caLine = content.caPublicKey ? `${content.caPublicKey.trim()}\n` : '';
  const op = content.caPublicKey ? 'install' : 'revoked';
  const paths = [ca.trustedKeysPath, ca.revokedKeysPath, ca.sshdConfigPath, ca.dropInPath];
  const reload = op === 'install' ? (ca.reloadArgv ?? []) : [];
  // One server's work stays well inside the outbox lease (60 s) that covers its delivery.
  const result = await target.exec(['sh', '-c', CA_FILES_SCRIPT, 'warden-ca', op, ...paths, ...reload], {
    sudo: ca.sudo,
    stdin: caLine + revoked,
    timeoutMs: 40_000,
    maxOutputBytes: 64 * 1024,
  });
  const reason = result.stderr.replace(/^warden-ca: /, '').trim();
  if (result.exitCode !== 0) {
    throw new AppError(
      result.exitCode === 3 || result.exitCode === 4 ? 'conflict' : 'integration',
      `could not install the CA files on ${target.name} (exit ${result.exitCode ?? result.signal}): ${reason || 'no message'}`,
    );
  }
  const out = parseOutput(result.stdout);
  if (out.revoked_sha256 !== sha256(revoked) || (caLine && out.ca_sha256 !== sha256(caLine))) {
    throw new AppError(
      'integration',
      `the CA files on ${target.name} do not read back as written; try again`,
    );
  }
  return out;
}

/** Write the revocation list on one server (an early revocation, or a certificate that ran out). */
export async function pushCaFiles(
  target: Target,
  ca: AccessPolicy['ca'],
  content: { caPublicKey: string | null; revokedKeys: readonly string[] },
): Promise<void> {
  await runScript(target, ca, content);
}

/**
 * Install the CA on one server: the files, then the sshd drop-in, `sshd -t` and a reload. Throws
 * only for what the script refused or could not do; "needs a manual Include" is a result.
 */
export async function installCaOnServer(
  target: Target,
  ca: AccessPolicy['ca'],
  content: { caPublicKey: string; revokedKeys: readonly string[] },
): Promise<CaServerResult> {
  const out = await runScript(target, ca, content);
  const server = target.name;
  if (out.state === 'needs-manual-include') {
    return {
      server,
      state: 'needs-manual-include',
      detail: `${ca.sshdConfigPath} has no \`Include ${ca.dropInPath.replace(/\/[^/]+$/, '')}/*.conf\` line, so Warden edited no sshd config; add these two lines to it and reload sshd: ${sshdLines(
        ca,
      )
        .map((l) => `\`${l}\``)
        .join(' ')}`,
    };
  }
  if (out.state !== 'installed' && out.state !== 'already-current') {
    throw new AppError('integration', `the CA script on ${server} gave no result; try again`);
  }
  const where = out.where === 'sshd_config' ? `named in ${ca.sshdConfigPath}` : `drop-in ${ca.dropInPath}`;
  const detail =
    out.state === 'already-current'
      ? `already current (${where})`
      : out.reload
        ? `installed (${where}, checked with sshd -t, sshd reloaded)`
        : `installed (${where}; the files were updated, sshd reads them at each login)`;
  return { server, state: out.state, detail };
}
