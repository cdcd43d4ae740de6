import { AppError } from '../../lib/errors.js';
import { detectOs, installCommands, isShellFamily } from '../os/index.js';
import type { ShellFamily } from '../os/types.js';
import type { ExecFn } from './authorized-keys.js';
import { classifyExecResult } from './errors.js';
import type { ExecResult, InstallItem, InstallOptions, InstallResult } from './types.js';

/** The package family from /etc/os-release, when the caller did not say. */
async function familyOf(exec: ExecFn): Promise<ShellFamily> {
  const release = await exec(['cat', '/etc/os-release'], { timeoutMs: 30_000 });
  const os = detectOs(release.exitCode === 0 ? release.stdout : null);
  if (!isShellFamily(os.family)) {
    throw new AppError(
      'bad_request',
      `Warden installs packages over a shell on apt, dnf/yum, zypper and apk systems; this one is ${os.prettyName || 'unknown'}.`,
    );
  }
  return os.family;
}

/**
 * Installs exactly the given versions with integrations/os's command builders (which validate
 * every name and version). The package managers run one transaction for the whole list, so every
 * item shares its outcome; `failure` says why it failed (e.g. `package-lock`: retry later).
 */
export async function installWithExec(
  exec: ExecFn,
  items: readonly InstallItem[],
  options: InstallOptions & { sudo: boolean },
): Promise<InstallResult> {
  const family = options.family ?? (await familyOf(exec));
  const commands = installCommands(family, items);
  let last: ExecResult | undefined;
  for (const command of commands) {
    last = await exec(command.argv, {
      env: { ...command.env },
      sudo: command.sudo && options.sudo,
      timeoutMs: options.timeoutMs ?? command.timeoutSeconds * 1000,
    });
    const failure = classifyExecResult(last);
    if (failure) {
      const detail =
        `${last.stderr || last.stdout}`.trim().slice(-2000) || `exit ${last.exitCode ?? last.signal}`;
      return {
        items: items.map((item) => ({
          package: item.package,
          version: item.version,
          status: 'failed',
          detail,
        })),
        exec: last,
        failure,
      };
    }
  }
  return {
    items: items.map((item) => ({ package: item.package, version: item.version, status: 'installed' })),
    exec: last!,
  };
}
