import { sendDueDigests } from '../commands/compliance/digest.js';
import type { JobSpec } from './types.js';

/**
 * Every 5 minutes: send each project's daily compliance digest once its configured local time
 * (settings.compliance.digest, default 09:00 in the project's time zone) has passed today and it
 * has not gone out yet. Idempotent: the local day is claimed in the same transaction as the post.
 */
export const complianceDigestJob: JobSpec = {
  name: 'compliance-digest',
  every: '5 minutes',
  concurrency: 1,
  // Rendering charts for many projects takes a while; keep the lock well past one run.
  lockLifetimeMs: 15 * 60_000,
  async run(_data, deps) {
    const result = await sendDueDigests(deps);
    if (result.sent.length > 0) {
      deps.log.info({ sent: result.sent }, 'compliance digests sent');
      deps.kickOutbox?.();
    }
    if (result.failed.length > 0)
      deps.log.warn({ failed: result.failed }, 'some compliance digests failed; retrying');
  },
};
