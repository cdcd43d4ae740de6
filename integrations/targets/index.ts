/**
 * The Target port and its shell-based providers. Import factories from here; the cloud
 * providers (aws-ssm, azure) live in their own folders and implement the same `Target`.
 */

export {
  assertKeyLine,
  assertKeyTag,
  assertLogin,
  type ExecFn,
  editAuthorizedKeys,
} from './authorized-keys.js';
export { classifyExecResult, classifyTargetError, isPackageLockMessage, targetError } from './errors.js';
export { installWithExec } from './install.js';
export { createLocalTarget, type LocalTargetConfig, type LocalTargetDeps } from './local/index.js';
export { createOutputCollector, DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_MAX_OUTPUT_BYTES } from './output.js';
export { scanWithExec } from './scan.js';
export { commandArgv, quoteArg, quoteArgv } from './shell-quote.js';
export {
  createSshConnectionPool,
  createSshTarget,
  type HostKeyInfo,
  hostKeyFingerprint,
  normalizeFingerprint,
  type OnNewHostKey,
  type PoolEvent,
  type SshConnectionPool,
  type SshEndpointConfig,
  type SshTargetConfig,
  type SshTargetDeps,
} from './ssh/index.js';
export type * from './types.js';
