/**
 * One exec per host: a fixed POSIX sh script per family (or `auto`, which picks the family from
 * the package manager it finds) that runs the scan commands and prints each one's stdout, stderr
 * and exit code between markers carrying a random per-run nonce, so command output cannot fake
 * a section. Nothing is ever interpolated into the script.
 *
 *   @@WARDEN:<nonce>:scan:1:<family>@@
 *   @@WARDEN:<nonce>:begin:<id>@@
 *   <stdout, byte for byte>
 *   @@WARDEN:<nonce>:stderr:<id>@@
 *   <stderr, trailing newlines removed>
 *   @@WARDEN:<nonce>:end:<id>:<exit code>@@
 *   …
 *   @@WARDEN:<nonce>:done@@
 */
import { detectOs } from './detect.js';
import { isShellFamily, KERNEL_MODULES_CHECK, RPM_QUERY_FORMAT, ZYPPER_PATCH_INFO } from './plan.js';
import { parseScan } from './scan.js';
import { shellQuote } from './shell.js';
import { missingOutput, problem, truncatedOutput } from './text.js';
import type { CommandOutput, OsInfo, ScanProblem, ScanResult, ShellFamily } from './types.js';

const PRELUDE = `# Warden scan script v1. Read-only: it runs no command that changes the system.
LANG=C; LC_ALL=C; export LANG LC_ALL; unset LANGUAGE
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH
w_n=$(od -An -N8 -tx1 /dev/urandom 2>/dev/null | tr -d ' \\n')
[ -n "$w_n" ] || w_n=0
if command -v timeout >/dev/null 2>&1; then w_t="timeout 300"; else w_t=""; fi
exec 3>&1
w_run() {
  w_id=$1; shift
  printf '@@WARDEN:%s:begin:%s@@\\n' "$w_n" "$w_id"
  w_err=$("$@" </dev/null 2>&1 >&3 3>&-)
  w_rc=$?
  printf '\\n@@WARDEN:%s:stderr:%s@@\\n%s\\n@@WARDEN:%s:end:%s:%s@@\\n' "$w_n" "$w_id" "$w_err" "$w_n" "$w_id" "$w_rc"
  return $w_rc
}
w_os() {
  if [ -r /etc/os-release ]; then w_run os-release cat /etc/os-release
  elif [ -r /usr/lib/os-release ]; then w_run os-release cat /usr/lib/os-release
  else
    for w_f in /etc/redhat-release /etc/system-release /etc/SuSE-release /etc/alpine-release /etc/debian_version; do
      if [ -r "$w_f" ]; then w_run "$w_f" cat "$w_f"; fi
    done
  fi
}
w_debian() {
  w_run apt-simulate $w_t apt-get -s -o Debug::NoLocking=1 dist-upgrade || w_run apt-list $w_t apt list --upgradable
  w_run dpkg-audit $w_t dpkg --audit
  w_run reboot-required cat /var/run/reboot-required
  if [ -e /var/run/reboot-required.pkgs ]; then w_run reboot-required-pkgs cat /var/run/reboot-required.pkgs; fi
}
w_rhel() {
  if command -v dnf >/dev/null 2>&1; then w_pm=dnf; else w_pm=yum; fi
  w_run pm echo "$w_pm"
  w_run rpm-installed $w_t rpm -qa --qf '${RPM_QUERY_FORMAT}'
  w_run check-update $w_t "$w_pm" -q check-update
  w_run updateinfo $w_t "$w_pm" -q updateinfo list updates
  w_run updateinfo-cves $w_t "$w_pm" -q updateinfo list updates cves
  if command -v needs-restarting >/dev/null 2>&1; then w_run needs-restarting $w_t needs-restarting -r
  elif [ "$w_pm" = dnf ]; then w_run needs-restarting $w_t dnf -q needs-restarting -r; fi
}
w_zypper_patch_info() { ${ZYPPER_PATCH_INFO}; }
w_suse() {
  w_run zypper-updates $w_t zypper --non-interactive --xmlout list-updates
  w_run zypper-patches $w_t zypper --non-interactive --xmlout list-patches
  w_run zypper-patch-info w_zypper_patch_info
  w_run needs-rebooting $w_t zypper --non-interactive needs-rebooting
  w_run reboot-needed cat /run/reboot-needed
}
w_kernel_modules() { ${KERNEL_MODULES_CHECK}; }
w_alpine() {
  w_run apk-version $w_t apk version -l '<' || w_run apk-list $w_t apk list -u
  w_run kernel-modules w_kernel_modules
}
`;

const AUTO_DETECT = `if command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1; then w_fam=debian
elif command -v zypper >/dev/null 2>&1; then w_fam=suse
elif command -v dnf >/dev/null 2>&1 || command -v yum >/dev/null 2>&1; then w_fam=rhel
elif command -v apk >/dev/null 2>&1; then w_fam=alpine
else w_fam=unknown; fi
`;

function script(family: ShellFamily | 'auto'): string {
  const body =
    family === 'auto'
      ? `${AUTO_DETECT}printf '@@WARDEN:%s:scan:1:auto@@\\n' "$w_n"
w_run family echo "$w_fam"
w_os
case "$w_fam" in debian) w_debian ;; rhel) w_rhel ;; suse) w_suse ;; alpine) w_alpine ;; esac
`
      : `printf '@@WARDEN:%s:scan:1:${family}@@\\n' "$w_n"
w_run family echo ${family}
w_os
w_${family}
`;
  return `${PRELUDE}${body}printf '@@WARDEN:%s:done@@\\n' "$w_n"\n`;
}

const SCRIPTS: Readonly<Record<ShellFamily | 'auto', string>> = {
  auto: script('auto'),
  debian: script('debian'),
  rhel: script('rhel'),
  suse: script('suse'),
  alpine: script('alpine'),
};

/** The fixed scan script for one family, or `auto` when the family is not known yet. */
export function combinedScanScript(family: ShellFamily | 'auto'): string {
  return SCRIPTS[family];
}

/**
 * The script as one ssh exec command line: `sh -c '<script>'`, so it runs under POSIX sh whatever
 * the login shell is (bash, zsh, fish).
 */
export function combinedScanCommandLine(family: ShellFamily | 'auto'): string {
  return `sh -c ${shellQuote(SCRIPTS[family])}`;
}

export interface CombinedSections {
  outputs: Record<string, CommandOutput>;
  /** The family the script was written for (`auto` or one family). */
  scriptFamily: string;
  complete: boolean;
  problems: ScanProblem[];
}

const HEADER_RE = /(?:^|\n)@@WARDEN:([0-9a-f]{1,32}):scan:1:([a-z]{1,16})@@\n/;
const ID_RE = /^[A-Za-z0-9._/-]{1,64}$/;

/** Splits the script's output into per-command outputs; never throws. */
export function splitCombinedOutput(text: string): CombinedSections | null {
  const header = HEADER_RE.exec(text);
  if (!header) return null;
  const nonce = header[1]!;
  const prefix = `@@WARDEN:${nonce}:`;
  const outputs: Record<string, CommandOutput> = {};
  const problems: ScanProblem[] = [];
  let position = header.index + header[0].length;
  const beginTag = `\n${prefix}begin:`;
  // Search from one character back so that a section right after the header is found too.
  let begin = text.indexOf(beginTag, position - 1);
  while (begin !== -1) {
    const idStart = begin + beginTag.length;
    const idEnd = text.indexOf('@@\n', idStart);
    const id = idEnd === -1 ? '' : text.slice(idStart, idEnd);
    if (!ID_RE.test(id)) break;
    const stdoutStart = idEnd + 3;
    const stderrTag = `\n${prefix}stderr:${id}@@\n`;
    const stderrAt = text.indexOf(stderrTag, stdoutStart - 1);
    const nextBegin = text.indexOf(beginTag, stdoutStart - 1);
    if (stderrAt === -1 || (nextBegin !== -1 && nextBegin < stderrAt)) {
      // Cut off inside this section: keep what arrived, with an unknown exit code.
      const stop = nextBegin === -1 ? text.length : nextBegin + 1;
      outputs[id] = { stdout: text.slice(stdoutStart, stop), stderr: '', exitCode: null };
      problems.push(truncatedOutput(id));
      position = stop;
      begin = nextBegin;
      continue;
    }
    const stderrStart = stderrAt + stderrTag.length;
    const endTag = `\n${prefix}end:${id}:`;
    const endAt = text.indexOf(endTag, stderrStart - 1);
    const endMatch =
      endAt === -1
        ? null
        : /^(\d{1,3})@@(?:\n|$)/.exec(text.slice(endAt + endTag.length, endAt + endTag.length + 8));
    outputs[id] = {
      stdout: text.slice(stdoutStart, Math.max(stdoutStart, stderrAt)),
      stderr: endAt === -1 ? text.slice(stderrStart) : text.slice(stderrStart, Math.max(stderrStart, endAt)),
      exitCode: endMatch ? Number(endMatch[1]) : null,
    };
    if (!endMatch) problems.push(truncatedOutput(id));
    position = endAt === -1 ? text.length : endAt + endTag.length;
    begin = text.indexOf(beginTag, position - 1);
  }
  const complete = text.includes(`\n${prefix}done@@`, position - 1);
  return { outputs, scriptFamily: header[2]!, complete, problems };
}

export interface CombinedScanResult extends ScanResult {
  os: OsInfo;
}

/**
 * Parses the combined script's output into the OS and the scan result. Missing sections, a cut
 * connection or garbage become problems, never exceptions.
 */
export function parseCombinedScan(text: string): CombinedScanResult {
  const sections = splitCombinedOutput(text);
  if (!sections) {
    const os = detectOs(null);
    return {
      os,
      family: 'unknown',
      method: 'combined script',
      findings: [],
      rebootRequired: null,
      problems: [
        problem(
          'unknown_output',
          'error',
          'The scan returned no Warden scan header, so nothing could be read. Check that the login shell ' +
            'is POSIX sh compatible and that the scan script ran unchanged.',
        ),
      ],
    };
  }
  const { outputs } = sections;
  const releaseFiles: Record<string, string> = {};
  for (const [id, output] of Object.entries(outputs)) {
    if (id.startsWith('/etc/') && output.exitCode === 0) releaseFiles[id] = output.stdout;
  }
  const os = detectOs(outputs['os-release']?.stdout ?? null, releaseFiles);
  const announced = outputs.family?.stdout.trim() ?? '';
  const family = isShellFamily(announced) ? announced : isShellFamily(os.family) ? os.family : null;
  const problems = [...sections.problems];
  if (!sections.complete && !problems.some((p) => p.kind === 'truncated_output')) {
    problems.push(truncatedOutput('scan script'));
  }
  if (!outputs['os-release'] && Object.keys(releaseFiles).length === 0)
    problems.push(missingOutput('os-release'));
  if (!family) {
    problems.push(
      problem(
        'unsupported_os',
        'error',
        `No supported package manager was found on this server (OS: ${os.prettyName || 'unknown'}). ` +
          'Warden scans apt, dnf/yum, zypper and apk systems over SSH; Windows goes through SSM or Azure.',
      ),
    );
    return { os, family: os.family, method: 'combined script', findings: [], rebootRequired: null, problems };
  }
  const result = parseScan(family, outputs);
  return { os, ...result, problems: [...problems, ...result.problems] };
}

/**
 * The plain form `cat /etc/os-release; apt list --upgradable 2>/dev/null` (what the SSH benchmark's
 * fake-apt-scan prints): os-release lines, then apt's "Listing..." and one line per package.
 */
export function parseOsReleaseAndAptList(text: string): CombinedScanResult {
  const at = text.startsWith('Listing...') ? 0 : text.indexOf('\nListing...') + 1;
  const os = detectOs(at > 0 ? text.slice(0, at) : text);
  if (at === 0 && !text.startsWith('Listing...')) {
    return {
      os,
      family: 'debian',
      method: 'apt list --upgradable',
      findings: [],
      rebootRequired: null,
      problems: [
        problem(
          'unknown_output',
          'error',
          'The output has no "Listing..." line from `apt list --upgradable`, so no packages could be read. ' +
            'Check that apt is installed and that the command ran.',
        ),
      ],
    };
  }
  const result = parseScan('debian', { 'apt-list': { stdout: text.slice(at), stderr: '', exitCode: 0 } });
  return { os, ...result };
}
