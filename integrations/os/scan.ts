import { parseAlpineScan } from './apk.js';
import { parseDebianScan } from './apt.js';
import { parseRhelScan } from './dnf.js';
import { problem, usableLines } from './text.js';
import type { CommandOutputs, OsFamily, ScanResult } from './types.js';
import { parseSuseScan } from './zypper.js';

/**
 * Turns the outputs of a family's scan commands (keyed by command id, as in `scanPlan`) into
 * findings, the reboot state and problems. Never throws: missing, truncated or garbage output
 * gives problems and whatever findings could still be read.
 */
export function parseScan(family: OsFamily, outputs: CommandOutputs): ScanResult {
  switch (family) {
    case 'debian': {
      const result = parseDebianScan(outputs);
      const pkgs = outputs['reboot-required-pkgs'];
      if (pkgs?.exitCode === 0) {
        const names = usableLines(pkgs.stdout).lines.filter((line) => /^[a-z0-9][a-z0-9+.-]+$/.test(line));
        if (names.length > 0) result.rebootPackages = [...new Set(names)];
      }
      return result;
    }
    case 'rhel':
      return parseRhelScan(outputs);
    case 'suse':
      return parseSuseScan(outputs);
    case 'alpine':
      return parseAlpineScan(outputs);
    default:
      return {
        family,
        method: 'none',
        findings: [],
        rebootRequired: null,
        problems: [
          problem(
            'unsupported_os',
            'error',
            family === 'windows'
              ? 'Windows servers are scanned through AWS SSM or Azure Update Manager, not over a shell.'
              : 'The OS of this server is not recognised, so its output cannot be read.',
          ),
        ],
      };
  }
}
