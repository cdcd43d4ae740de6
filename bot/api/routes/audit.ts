import { z } from 'zod';
import { listAuditEvents, verifyAuditTrail } from '../../../commands/audit/search.js';
import { ProjectSlug } from '../../../commands/inventory/schema.js';
import { type ApiRoute, defineRoute } from '../registry.js';
import { AuditEventView, auditEventView, ChainReportView, pageOf } from '../views.js';

const Word = (what: string) =>
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:*/@-]{0,199}$/, `${what} is letters, digits and . _ : * / @ -`);

const EventQuery = z
  .object({
    actor: Word('actor').optional().describe('e.g. user:alice'),
    action: Word('action').optional().describe('an action, or a family such as server.*'),
    subject: Word('subject').optional().describe('type or type:id, e.g. server:web-01'),
    project: ProjectSlug.optional(),
    since: z.iso.datetime({ offset: true }).optional().describe('only events at or after this time'),
    limit: z.coerce.number().int().min(1).max(500).optional().describe('page size (default 100)'),
    cursor: z.string().max(200).optional(),
  })
  .strict();

export const auditRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/audit/events',
    operationId: 'listAuditEvents',
    summary: 'Read the audit trail, oldest first, a page at a time',
    tag: 'audit',
    permission: 'audit:read',
    query: EventQuery,
    response: pageOf(AuditEventView),
    handler: async ({ query, deps, actor }) => {
      const page = await listAuditEvents(
        { ...query, since: query.since === undefined ? undefined : new Date(query.since) },
        deps,
        actor,
      );
      return { items: page.items.map(auditEventView), nextCursor: page.nextCursor };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/audit/verify',
    operationId: 'verifyAuditTrail',
    summary: 'Check the hash chain of the whole trail and report the first event that does not fit',
    tag: 'audit',
    permission: 'audit:verify',
    response: ChainReportView,
    handler: async ({ deps, actor }) => verifyAuditTrail({}, deps, actor),
  }),
];
