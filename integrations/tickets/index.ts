import type { TicketsConfig } from './config.js';
import { createJiraTickets } from './jira/index.js';
import { createServiceNowTickets } from './servicenow/index.js';
import type { TicketDeps, TicketSystem } from './types.js';

export type { TicketsConfig } from './config.js';
export { createTicketDeliverer } from './deliver.js';
export { createTicketHooks } from './inbound.js';
export { linkTicket, openChangeRequest, ticketOrderingKey, ticketOutboxFor } from './subjects.js';
export type * from './types.js';
export { validateTicket } from './validate.js';

/**
 * The configured ticket system, or undefined when TICKETS_SYSTEM=none (Warden then only checks the
 * format of ticket keys people give it).
 *
 * @example
 * const tickets = createTicketSystem(config.tickets, { clock });
 * if (tickets) deliverers.ticket = createTicketDeliverer({ sql, tickets, clock });
 */
export function createTicketSystem(config: TicketsConfig, deps: TicketDeps): TicketSystem | undefined {
  switch (config.system) {
    case 'jira':
      return createJiraTickets(config.jira, deps);
    case 'servicenow':
      return createServiceNowTickets(config.servicenow, deps);
    case 'none':
      return undefined;
  }
}
