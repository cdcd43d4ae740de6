import type { TicketSystemName } from '../../storage/tickets.js';

export type { TicketSystemName } from '../../storage/tickets.js';

/**
 * The `TicketSystem` port: what Warden asks of Jira or ServiceNow. Each implementation maps these
 * neutral words onto its own workflow (transition names, state values) from configuration.
 */
export type TicketKind = 'change' | 'incident';

/** Where Warden moves a ticket; each system's config maps these to its workflow. */
export type TicketTransition = 'approved' | 'in-progress' | 'done' | 'failed' | 'cancelled';
export const TICKET_TRANSITIONS: readonly TicketTransition[] = [
  'approved',
  'in-progress',
  'done',
  'failed',
  'cancelled',
];

/** Jira's statusCategory keys new / indeterminate / done; ServiceNow's states folded the same way. */
export type StatusCategory = 'open' | 'in-progress' | 'done';

export interface Ticket {
  system: TicketSystemName;
  key: string;
  /** The status as the ticket system names it ("In Progress", "Scheduled"). */
  status: string;
  statusCategory: StatusCategory;
  /** False once the ticket is done, closed, cancelled or rejected. */
  open: boolean;
  summary: string;
  /** Where a person opens it in a browser. */
  url: string;
}

export interface OpenTicketInput {
  kind: TicketKind;
  summary: string;
  description: string;
  /** System-specific fields added to the create call (Jira custom fields, ServiceNow columns). */
  fields?: Record<string, unknown>;
  /**
   * When set, a second open with the same key finds the ticket the first one created instead of
   * creating another (a Jira label, a ServiceNow correlation_id).
   */
  idempotencyKey?: string;
}

export interface OpenedTicket {
  key: string;
  url: string;
  /** False when an earlier attempt had already created it. */
  created: boolean;
}

export interface CommentOptions {
  /** Written into the comment as `[warden:<key>]`, so a re-sent comment can be recognised. */
  idempotencyKey: string;
}

export interface TransitionOptions {
  idempotencyKey: string;
  /** Posted with the transition, in the same request where the system allows it. */
  comment: string;
}

export interface TransitionResult {
  /** Status before and after. */
  from: string;
  to: string;
  /** Transition names applied, in order (empty: nothing to move, only the comment was posted). */
  applied: string[];
}

export interface TicketSystem {
  readonly name: TicketSystemName;
  /** Does `key` look like one of this system's ticket keys (format only, no call)? */
  isValidKey(key: string): boolean;
  /** The ticket, or undefined when it does not exist (or the service account cannot see it). */
  get(key: string): Promise<Ticket | undefined>;
  open(input: OpenTicketInput): Promise<OpenedTicket>;
  /** Add a comment (Jira) or work note (ServiceNow) carrying the idempotency marker. */
  comment(key: string, text: string, options: CommentOptions): Promise<{ id: string }>;
  /** Is a comment with this idempotency marker already on the ticket (recent comments only)? */
  hasMarker(key: string, idempotencyKey: string): Promise<boolean>;
  transition(key: string, to: TicketTransition, options: TransitionOptions): Promise<TransitionResult>;
  /** Relate the ticket to another ticket key of the same system, or to a URL. */
  link(key: string, target: string): Promise<void>;
}

/** What the implementations need from the process. */
export interface TicketDeps {
  clock: { now(): Date };
  /** Defaults to the global fetch (ServiceNow). */
  fetch?: typeof fetch;
}
