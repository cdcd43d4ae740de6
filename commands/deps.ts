import type { Platform } from '../bot/chat/model.js';
import type { TicketSystem } from '../integrations/tickets/types.js';
import type { Clock } from '../lib/clock.js';
import type { Config } from '../lib/config.js';
import type { Vault } from '../lib/crypto.js';
import type { Logger } from '../lib/logger.js';
import type { Sql } from '../storage/db.js';
import type { ApprovalSubject } from './approvals/subjects.js';
import type { TargetFactory, TargetProviderPlugin } from './scanning/target-factory.js';

/**
 * What every command receives. Built once in bot/main.ts (or by a test) and passed down;
 * nothing in commands/ reaches for globals. Later capabilities add their ports here
 * (targets, tickets, mailer) as optional members.
 */
export interface Deps {
  sql: Sql;
  clock: Clock;
  log: Logger;
  vault: Vault;
  config: Pick<Config, 'publicUrl' | 'embedded' | 'admins'>;
  /** Chat platforms running in this process; notifications fan out to each. */
  chatPlatforms: readonly Platform[];
  /** Wake the outbox worker after a commit, so replies go out without waiting for the next poll. */
  kickOutbox?: () => void;
  /** What acts when an approval request ends, by subject type (commands/approvals/subjects.ts). */
  approvalSubjects?: ReadonlyMap<string, ApprovalSubject>;
  /** The configured ticket system (Jira, ServiceNow); unset when TICKETS_SYSTEM=none. */
  tickets?: TicketSystem;
  /** Builds Targets for servers: one SSH pool and one set of scan limits per process (commands/scanning). */
  targets?: TargetFactory;
  /** Cloud providers ('aws', 'azure', …) that can build Targets and discover servers, by servers.provider. */
  targetProviders?: ReadonlyMap<string, TargetProviderPlugin>;
}
