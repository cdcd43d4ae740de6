/**
 * The Target port and its shell-based providers. Import factories from here; the cloud
 * providers (aws-ssm, azure) live in their own folders and implement the same `Target`.
 */
export type * from './types.js';
export { classifyExecResult, classifyTargetError, isPackageLockMessage, targetError } from './errors.js';
export { DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_MAX_OUTPUT_BYTES, createOutputCollector } from './output.js';
export { commandArgv, quoteArg, quoteArgv } from './shell-quote.js';
export { assertKeyLine, assertKeyTag, assertLogin, editAuthorizedKeys, type ExecFn } from './authorized-keys.js';
export { scanWithExec } from './scan.js';
export { installWithExec } from './install.js';
export { createLocalTarget, type LocalTargetConfig, type LocalTargetDeps } from './local/index.js';
export {
  createSshConnectionPool,
  createSshTarget,
  hostKeyFingerprint,
  normalizeFingerprint,
  type HostKeyInfo,
  type OnNewHostKey,
  type PoolEvent,
  type SshConnectionPool,
  type SshEndpointConfig,
  type SshTargetConfig,
  type SshTargetDeps,
} from './ssh/index.js';
