import { AppError } from '../../lib/errors.js';
import { clip, JIRA_KEY, normalizeKey, SERVICENOW_KEY, SYSTEM_LABEL } from './common.js';
import type { Ticket, TicketSystem } from './types.js';

/** A ticket someone named, checked: the ticket itself when a system is configured, else the key only. */
export type ValidatedTicket =
  | ({ checked: true } & Ticket)
  | { checked: false; key: string; system: 'jira' | 'servicenow' };

/**
 * Check the ticket an access request (or anything else) names: present, well-formed and, when a
 * ticket system is configured, existing and open. Refusals are AppError('bad_request') saying what
 * to do; a ticket system that cannot be reached throws its IntegrationError.
 *
 * @example
 * const ticket = await validateTicket(deps, input.ticket); // "ticket OPS-12 is Done; …" when closed
 */
export async function validateTicket(
  deps: { tickets?: TicketSystem },
  raw: string | null | undefined,
): Promise<ValidatedTicket> {
  const key = normalizeKey(raw ?? '');
  if (!key) {
    throw new AppError(
      'bad_request',
      'name the ticket this is for, e.g. `ticket OPS-12` (Jira) or `ticket CHG0030001` (ServiceNow)',
    );
  }
  const shown = clip(key, 40);
  const { tickets } = deps;
  if (!tickets) {
    if (JIRA_KEY.test(key)) return { checked: false, key, system: 'jira' };
    if (SERVICENOW_KEY.test(key)) return { checked: false, key, system: 'servicenow' };
    throw new AppError(
      'bad_request',
      `"${shown}" is not a ticket key; use a Jira key like OPS-12 or a ServiceNow number like CHG0030001`,
    );
  }
  const label = SYSTEM_LABEL[tickets.name];
  if (!tickets.isValidKey(key)) {
    const example = tickets.name === 'jira' ? 'OPS-12' : 'CHG0030001 or INC0010002';
    throw new AppError('bad_request', `"${shown}" is not a ${label} ticket key; keys look like ${example}`);
  }
  const ticket = await tickets.get(key);
  if (!ticket) {
    throw new AppError(
      'bad_request',
      `ticket ${key} does not exist in ${label} (or Warden's service account cannot see it); check the key`,
    );
  }
  if (!ticket.open) {
    throw new AppError(
      'bad_request',
      `ticket ${ticket.key} is ${ticket.status}; access needs an open ticket — reopen it or name another`,
      { details: { ticket: ticket.key, status: ticket.status } },
    );
  }
  return { checked: true, ...ticket };
}
