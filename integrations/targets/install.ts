import { AppError } from '../../lib/errors.js';
import type { ExecFn } from './authorized-keys.js';
import type { InstallItem, InstallOptions, InstallResult } from './types.js';

/** Installs packages through `exec` (wired to integrations/os once its builders land). */
export async function installWithExec(
  _exec: ExecFn,
  _items: readonly InstallItem[],
  _options: InstallOptions & { sudo: boolean },
): Promise<InstallResult> {
  throw new AppError('unavailable', 'Installing is not wired yet.');
}
