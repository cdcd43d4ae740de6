import { queueDueReportEmails } from '../commands/reports/email.js';
import type { JobSpec } from './types.js';

/**
 * Every 10 minutes: queue the report e-mails whose slot in a project's schedule
 * (projects.settings.reports) has come. Each slot is claimed once across replicas; the outbox's
 * 'mail' deliverer builds and sends it. Registered only when SMTP is configured.
 */
export const reportsEmailJob: JobSpec = {
  name: 'reports-email',
  every: '10 minutes',
  concurrency: 1,
  lockLifetimeMs: 5 * 60_000,
  async run(_data, deps) {
    const queued = await queueDueReportEmails(deps);
    if (queued.length > 0) deps.log.info({ projects: queued.map((q) => q.slug) }, 'report e-mails queued');
  },
};
