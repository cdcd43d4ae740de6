import { type Baseline, type BaselineCheck, Baseline as BaselineSchema } from './types.js';

/**
 * The default Linux baseline: the handful of CIS level-1 controls that matter most on every
 * server. Every check is one fixed `sh -c` script (no value from Warden is ever put into it);
 * where a script takes an argument, like the sshd config path, the argument is part of the data
 * too, so a test points a check at another file by changing the data, never by interpolation.
 *
 * Exit codes: 0 pass, 1 fail, 3 "could not tell" (not a failure, and never a drift).
 */
export const SSHD_CONFIG = '/etc/ssh/sshd_config';

const lines = (...l: string[]) => l.join('\n');

/**
 * Prints sshd's effective settings as `keyword value` lines: `sshd -T` when it can run (it needs
 * root for the host keys), else the first value of each keyword read from the config file and its
 * Includes, up to the first Match block (sshd uses the first value it reads), with sshd's defaults
 * for the keywords these checks need.
 */
export const SSHD_EFFECTIVE_SCRIPT = lines(
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, not a JS template
  'cfg=${1:-/etc/ssh/sshd_config}',
  'for bin in sshd /usr/sbin/sshd; do',
  '  if out=$("$bin" -T -f "$cfg" 2>/dev/null) && [ -n "$out" ]; then printf "%s\\n" "$out"; exit 0; fi',
  'done',
  '[ -r "$cfg" ] || { echo "cannot read $cfg (and sshd -T needs root)"; exit 3; }',
  'expand() {',
  '  while IFS= read -r line || [ -n "$line" ]; do',
  '    set -f; set -- $line; set +f',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, not a JS template
  '    case $(printf "%s" "${1:-}" | tr "A-Z" "a-z") in',
  '      include) shift',
  '        for pat in "$@"; do',
  '          case $pat in /*) ;; *) pat="/etc/ssh/$pat" ;; esac',
  '          for f in $pat; do [ -r "$f" ] && expand < "$f"; done',
  '        done ;;',
  '      *) printf "%s\\n" "$line" ;;',
  '    esac',
  '  done',
  '}',
  'expand < "$cfg" | awk \'',
  '  { sub(/#.*/, ""); sub(/^[ \\t]+/, ""); sub(/[ \\t]+$/, "") }',
  '  $0 == "" { next }',
  '  { k = $0; sub(/[ \\t=].*/, "", k); k = tolower(k); if (k == "match") exit',
  '    if (!(k in seen)) { seen[k] = 1; v = $0; sub(/^[^ \\t=]+[ \\t]*=?[ \\t]*/, "", v); print k " " tolower(v) } }',
  '  END { if (!("permitrootlogin" in seen)) print "permitrootlogin prohibit-password"',
  '        if (!("passwordauthentication" in seen)) print "passwordauthentication yes" }\'',
);

const FIREWALL_SCRIPT = lines(
  'denied=',
  'if command -v nft >/dev/null 2>&1; then',
  '  if rules=$(nft list ruleset 2>/dev/null); then',
  '    if printf "%s\\n" "$rules" | grep -Eq "hook (input|forward)"; then echo "firewall: nftables has input rules"; exit 0; fi',
  '  else denied=1; fi',
  'fi',
  'if command -v ufw >/dev/null 2>&1 && ufw status 2>/dev/null | grep -q "^Status: active"; then echo "firewall: ufw active"; exit 0; fi',
  'if command -v firewall-cmd >/dev/null 2>&1 && [ "$(firewall-cmd --state 2>/dev/null)" = running ]; then echo "firewall: firewalld running"; exit 0; fi',
  'if command -v iptables >/dev/null 2>&1; then',
  '  if rules=$(iptables -S INPUT 2>/dev/null); then',
  '    if printf "%s\\n" "$rules" | grep -Eq "^-P INPUT (DROP|REJECT)|^-A INPUT"; then echo "firewall: iptables has INPUT rules"; exit 0; fi',
  '  else denied=1; fi',
  'fi',
  'if [ -n "$denied" ]; then echo "cannot read the firewall rules (needs root)"; exit 3; fi',
  'echo "no active firewall found (looked for nftables, ufw, firewalld, iptables)"; exit 1',
);

const AUTO_UPDATES_SCRIPT = lines(
  'if command -v apt-config >/dev/null 2>&1; then',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, not a JS template
  "  if ! dpkg-query -W -f='${Status}' unattended-upgrades 2>/dev/null | grep -q 'install ok installed'; then",
  '    echo "unattended-upgrades is not installed"; exit 1',
  '  fi',
  '  if apt-config dump 2>/dev/null | grep -Eq \'^APT::Periodic::Unattended-Upgrade "(1|always)";\'; then',
  '    echo "unattended-upgrades is installed and APT::Periodic::Unattended-Upgrade is on"; exit 0',
  '  fi',
  '  echo "unattended-upgrades is installed but APT::Periodic::Unattended-Upgrade is not \\"1\\""; exit 1',
  'fi',
  'if command -v dnf >/dev/null 2>&1 || command -v yum >/dev/null 2>&1; then',
  '  if systemctl is-enabled dnf-automatic-install.timer >/dev/null 2>&1; then echo "dnf-automatic-install.timer enabled"; exit 0; fi',
  '  if systemctl is-enabled dnf-automatic.timer >/dev/null 2>&1; then',
  "    if grep -Eq '^[[:space:]]*apply_updates[[:space:]]*=[[:space:]]*(yes|true|1)' /etc/dnf/automatic.conf 2>/dev/null; then",
  '      echo "dnf-automatic.timer enabled with apply_updates = yes"; exit 0',
  '    fi',
  '    echo "dnf-automatic.timer is enabled but apply_updates is not yes"; exit 1',
  '  fi',
  '  if systemctl is-enabled yum-cron >/dev/null 2>&1; then echo "yum-cron enabled"; exit 0; fi',
  '  echo "neither dnf-automatic nor yum-cron is enabled"; exit 1',
  'fi',
  'echo "no known automatic-update tool for this package manager"; exit 3',
);

const AUDITD_SCRIPT = lines(
  'if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then',
  '  if systemctl is-active --quiet auditd; then echo "auditd is active"; exit 0; fi',
  '  echo "auditd is $(systemctl is-active auditd 2>/dev/null || true)"; exit 1',
  'fi',
  'if pgrep -x auditd >/dev/null 2>&1; then echo "auditd is running"; exit 0; fi',
  'echo "auditd is not running"; exit 1',
);

/**
 * Sets one sshd keyword in a drop-in read before the main config (sshd keeps the first value),
 * checks the whole config with `sshd -t`, and reloads sshd; any failure puts the drop-in back.
 * $1 is the keyword line, fixed in the data.
 */
const SSHD_DROPIN_SCRIPT = lines(
  'set -e',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, not a JS template
  'd=/etc/ssh/sshd_config.d; f=$d/00-warden-baseline.conf; key=${1%% *}',
  'grep -Eiq "^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config.d/" /etc/ssh/sshd_config || { echo "sshd_config does not include $d: set $1 by hand"; exit 3; }',
  'mkdir -p "$d"; touch "$f"; cp "$f" "$f.warden-bak"',
  'grep -vi "^$key " "$f.warden-bak" > "$f" || true',
  'printf "%s\\n" "$1" >> "$f"',
  'if ! sshd -t; then mv "$f.warden-bak" "$f"; echo "sshd -t refused the change; put back"; exit 1; fi',
  'rm -f "$f.warden-bak"',
  'systemctl reload ssh 2>/dev/null || systemctl reload sshd 2>/dev/null || kill -HUP "$(cat /run/sshd.pid)"',
  'echo "set $1 in $f and reloaded sshd"',
);

function sshdCheck(id: string, title: string, pass: RegExp, advice: string, dropIn: string): BaselineCheck {
  return {
    id,
    title,
    level: 1,
    argv: ['sh', '-c', SSHD_EFFECTIVE_SCRIPT, 'sshd-effective', SSHD_CONFIG],
    root: true,
    pass: { exitCode: 0, stdoutMatches: pass.source },
    unknownExitCodes: [3, 126, 127],
    advice,
    remediation: {
      argv: ['sh', '-c', SSHD_DROPIN_SCRIPT, 'sshd-dropin', dropIn],
      risk: 'medium',
      summary: `write "${dropIn}" to /etc/ssh/sshd_config.d/00-warden-baseline.conf, check with sshd -t, reload sshd`,
    },
  };
}

export const DEFAULT_LINUX_BASELINE: Baseline = BaselineSchema.parse({
  name: 'default-linux',
  title: 'Default Linux baseline (CIS level 1 essentials)',
  families: ['debian', 'rhel', 'suse', 'alpine', 'unknown'],
  checks: [
    sshdCheck(
      'ssh.root-login',
      'SSH root login is off',
      /^permitrootlogin no$/,
      'Set "PermitRootLogin no" in /etc/ssh/sshd_config (before any Match block) and reload sshd.',
      'PermitRootLogin no',
    ),
    sshdCheck(
      'ssh.password-auth',
      'SSH password authentication is off',
      /^passwordauthentication no$/,
      'Set "PasswordAuthentication no" in /etc/ssh/sshd_config and reload sshd; make sure key logins work first.',
      'PasswordAuthentication no',
    ),
    {
      id: 'firewall.active',
      title: 'A host firewall is active',
      level: 1,
      argv: ['sh', '-c', FIREWALL_SCRIPT, 'firewall-active'],
      root: true,
      pass: { exitCode: 0 },
      unknownExitCodes: [3, 126, 127],
      advice:
        'Enable nftables, ufw or firewalld with a default-deny input policy that allows SSH from your admin networks.',
    },
    {
      id: 'updates.automatic-security',
      title: 'Automatic security updates are configured',
      level: 1,
      argv: ['sh', '-c', AUTO_UPDATES_SCRIPT, 'automatic-updates'],
      pass: { exitCode: 0 },
      unknownExitCodes: [3, 126, 127],
      advice:
        'Debian/Ubuntu: install unattended-upgrades and run dpkg-reconfigure -plow unattended-upgrades. RHEL: enable dnf-automatic-install.timer.',
    },
    {
      id: 'audit.auditd',
      title: 'System auditing (auditd) is running',
      level: 2,
      argv: ['sh', '-c', AUDITD_SCRIPT, 'auditd'],
      pass: { exitCode: 0 },
      unknownExitCodes: [3, 126, 127],
      advice:
        'Install auditd (apt-get install auditd, or dnf install audit) and enable it: systemctl enable --now auditd.',
      remediation: {
        argv: ['sh', '-c', 'systemctl enable --now auditd && systemctl is-active auditd', 'auditd-enable'],
        risk: 'low',
        summary: 'systemctl enable --now auditd (auditd must already be installed)',
      },
    },
  ],
});

/** Baselines by name. Projects choose one with settings.compliance.baseline.name (default: default-linux). */
export const BASELINES: ReadonlyMap<string, Baseline> = new Map([
  [DEFAULT_LINUX_BASELINE.name, DEFAULT_LINUX_BASELINE],
]);
