import type { z } from 'zod';
import { recordEvent } from '../../commands/audit/trail.js';
import type { Deliverer } from '../../jobs/outbox-worker.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import { type Sql, withTx } from '../../storage/db.js';
import type { OutboxItem } from '../../storage/outbox.js';
import { getTicketLink, insertTicketLink } from '../../storage/tickets.js';
import { SYSTEM_LABEL } from './common.js';
import { TicketCommentItem, TicketOpenItem, TicketTransitionItem } from './subjects.js';
import type { TicketSystem } from './types.js';

/**
 * The deliverer of the outbox's 'ticket' channel: opens tickets, posts comments and moves
 * tickets, each at least once and, through the marker `[warden:<idempotencyKey>]`, never twice.
 *
 * Delivery is at least once: a worker can crash after Jira accepted a comment and before the row
 * was marked delivered. So any attempt after the first looks for its own marker among the
 * ticket's recent comments before posting. A transition carries its comment in the same request,
 * so the marker proves the transition happened too. An open is found again by its idempotency
 * label (Jira) or correlation_id (ServiceNow).
 */
export interface TicketDelivererOptions {
  sql: Sql;
  tickets: TicketSystem;
  clock: Clock;
}

function parse<S extends z.ZodType>(schema: S, item: OutboxItem): z.output<S> {
  const parsed = schema.safeParse(item.payload);
  if (!parsed.success) {
    // A payload that cannot be read now never will be: bad_request sends it to the dead letters.
    throw new AppError(
      'bad_request',
      `outbox item ${item.id} (${item.kind}) has a payload Warden cannot read`,
    );
  }
  return parsed.data;
}

/**
 * @example
 * deliverers.ticket = createTicketDeliverer({ sql, tickets: createTicketSystem(config.tickets, { clock })!, clock });
 */
export function createTicketDeliverer(options: TicketDelivererOptions): Deliverer {
  const { sql, tickets, clock } = options;
  const label = SYSTEM_LABEL[tickets.name];

  async function keyFor(item: OutboxItem, payload: TicketCommentItem): Promise<string> {
    if (payload.key) return payload.key;
    const link = await getTicketLink(sql, payload.subject, tickets.name);
    if (!link) {
      throw new AppError(
        'bad_request',
        `${payload.subject.type} ${payload.subject.id} has no ${label} ticket (its open failed or was never asked for), so item ${item.id} cannot be sent`,
      );
    }
    return link.key;
  }

  /** After a first attempt that may have landed, is our comment already there? */
  async function alreadyThere(item: OutboxItem, key: string): Promise<boolean> {
    return item.attempts > 1 && (await tickets.hasMarker(key, item.idempotencyKey));
  }

  async function open(item: OutboxItem): Promise<Record<string, unknown>> {
    const payload = parse(TicketOpenItem, item);
    const existing = await getTicketLink(sql, payload.subject, tickets.name);
    if (existing) return { system: tickets.name, key: existing.key, url: existing.url, created: false };
    const opened = await tickets.open({
      kind: payload.kind,
      summary: payload.summary,
      description: payload.description,
      fields: payload.fields,
      idempotencyKey: item.idempotencyKey,
    });
    await withTx(sql, async (tx) => {
      const at = clock.now();
      const inserted = await insertTicketLink(tx, {
        subject: payload.subject,
        system: tickets.name,
        key: opened.key,
        url: opened.url,
        at,
      });
      if (!inserted) return;
      await recordEvent(
        tx,
        { clock, chatPlatforms: [] },
        {
          actor: 'system',
          action: 'ticket.linked',
          subject: payload.subject,
          projectId: payload.projectId ?? null,
          data: {
            system: tickets.name,
            key: opened.key,
            url: opened.url,
            kind: payload.kind,
            outboxId: item.id,
          },
        },
      );
    });
    return { system: tickets.name, key: opened.key, url: opened.url, created: opened.created };
  }

  async function comment(item: OutboxItem): Promise<Record<string, unknown>> {
    const payload = parse(TicketCommentItem, item);
    const key = await keyFor(item, payload);
    if (await alreadyThere(item, key)) return { system: tickets.name, key, duplicate: true };
    const posted = await tickets.comment(key, payload.text, { idempotencyKey: item.idempotencyKey });
    return { system: tickets.name, key, commentId: posted.id };
  }

  async function transition(item: OutboxItem): Promise<Record<string, unknown>> {
    const payload = parse(TicketTransitionItem, item);
    const key = await keyFor(item, payload);
    if (await alreadyThere(item, key)) return { system: tickets.name, key, duplicate: true };
    const moved = await tickets.transition(key, payload.to, {
      idempotencyKey: item.idempotencyKey,
      comment: payload.text,
    });
    return { system: tickets.name, key, ...moved };
  }

  return {
    async deliver(item) {
      switch (item.kind) {
        case 'ticket.open':
          return open(item);
        case 'ticket.comment':
          return comment(item);
        case 'ticket.transition':
          return transition(item);
        default:
          throw new AppError(
            'bad_request',
            `the ticket deliverer does not know outbox items of kind ${item.kind}`,
          );
      }
    },
  };
}
