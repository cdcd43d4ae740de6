import { autoApprovePlans } from '../commands/patching/auto-approve.js';
import type { JobSpec } from './types.js';

/** Every 15 minutes: approve, as `policy:auto-approve`, the waiting plans whose packages are all old enough. */
export const patchAutoApproveJob: JobSpec = {
  name: 'patch-auto-approve',
  every: '15 minutes',
  concurrency: 1,
  lockLifetimeMs: 5 * 60_000,
  async run(_data, deps) {
    const approved = await autoApprovePlans(deps);
    if (approved.length) deps.log.info({ plans: approved }, 'patch plans auto-approved');
  },
};
