/**
 * OS knowledge for scanning and patching: which commands to run on a server (always in the C
 * locale), and pure parsers that turn their output into findings and problems. No I/O here; the
 * targets (ssh, local, ssm, azure) run the commands and hand the output back.
 *
 * @example
 * const script = combinedScanScript('auto');          // one exec per host over SSH
 * const result = parseCombinedScan(stdoutOfScript);   // { os, findings, rebootRequired, problems }
 */
export { parseAlpineScan, parseApkList, parseApkVersion } from './apk.js';
export { detectAptProblems, parseAptList, parseAptSimulate, parseDebianScan, parseDpkgAudit } from './apt.js';
export type { CombinedScanResult, CombinedSections } from './combined.js';
export {
  combinedScanCommandLine,
  combinedScanScript,
  parseCombinedScan,
  parseOsReleaseAndAptList,
  splitCombinedOutput,
} from './combined.js';
export { detectOs, parseOsRelease, RELEASE_FILES, rhelPackageManager } from './detect.js';
export {
  parseCheckUpdate,
  parseNeedsRestarting,
  parseRhelScan,
  parseRpmInstalled,
  parseUpdateinfoList,
} from './dnf.js';
export {
  historyListCommand,
  historyUndoCommand,
  installArgv,
  installCommands,
  rollbackCommands,
  validatePins,
} from './install.js';
export { detectCommands, isShellFamily, refreshCommand, scanPlan } from './plan.js';
export { evrCompare, rpmVersionCompare } from './rpm-version.js';
export { parseScan } from './scan.js';
export { C_LOCALE_ENV, shellQuote, toCommandLine } from './shell.js';
export { lockRetryDelaySeconds } from './text.js';
export type * from './types.js';
export { parsePatchConflicts, parseSuseScan, parseZypperPatches, parseZypperUpdates } from './zypper.js';
