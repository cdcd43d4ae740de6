import { runDiscovery } from '../commands/scanning/discovery.js';
import type { JobSpec } from './types.js';

/**
 * Every hour: ask each cloud account (those whose provider plugin in Deps.targetProviders offers
 * discovery) for its servers, add the new ones (flagged on the trail and in the project's
 * channel) and refresh the others. Without any cloud provider configured it does nothing.
 */
export const discoveryJob: JobSpec = {
  name: 'discovery',
  every: '1 hour',
  concurrency: 1,
  lockLifetimeMs: 30 * 60_000,
  async run(_data, deps) {
    const results = await runDiscovery(deps);
    const created = results.flatMap((r) => r.created);
    if (created.length > 0) deps.log.info({ created }, 'discovery found new servers');
  },
};
