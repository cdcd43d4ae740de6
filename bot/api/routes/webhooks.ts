import { z } from 'zod';
import { decodeCursor, encodeCursor } from '../../../commands/inventory/paging.js';
import {
  createWebhook,
  deleteWebhook,
  getWebhook,
  listWebhookDeliveries,
  listWebhooks,
  rotateWebhookSecret,
  updateWebhook,
  WebhookCreate,
  WebhookPatch,
} from '../../../commands/webhooks/subscriptions.js';
import type { WebhookDelivery, WebhookSubscription } from '../../../storage/webhooks.js';
import { type ApiRoute, defineRoute } from '../registry.js';
import { pageOf } from '../views.js';

const Timestamp = z.iso.datetime();

const WebhookView = z.object({
  id: z.int(),
  project: z.string().nullable().describe('null: every project'),
  url: z.string(),
  events: z.array(z.string()),
  description: z.string(),
  active: z.boolean(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

function webhookView(w: WebhookSubscription): z.input<typeof WebhookView> {
  return {
    id: w.id,
    project: w.projectSlug,
    url: w.url,
    events: w.events,
    description: w.description,
    active: w.active,
    createdAt: w.createdAt.toISOString(),
    updatedAt: w.updatedAt.toISOString(),
  };
}

const SecretView = z.object({
  secret: z
    .string()
    .describe(
      'the signing secret, shown this once. Each delivery carries X-Warden-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">',
    ),
});

const DeliveryView = z.object({
  id: z.int(),
  deliveryId: z.string().describe('the X-Warden-Delivery header: the same on every retry'),
  eventSeq: z.int().nullable(),
  event: z.string(),
  attempt: z.int(),
  outcome: z.enum(['delivered', 'failed']),
  httpStatus: z.int().nullable(),
  error: z.string().nullable(),
  durationMs: z.int(),
  at: Timestamp,
});

function deliveryView(d: WebhookDelivery): z.input<typeof DeliveryView> {
  return {
    id: d.id,
    deliveryId: d.deliveryKey,
    eventSeq: d.eventSeq,
    event: d.eventAction,
    attempt: d.attempt,
    outcome: d.outcome,
    httpStatus: d.httpStatus,
    error: d.error,
    durationMs: d.durationMs,
    at: d.at.toISOString(),
  };
}

const IdParam = z.object({ id: z.coerce.number().int().min(1) });

export const webhookRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/webhooks',
    operationId: 'listWebhooks',
    summary: 'Webhook subscriptions you may manage',
    tag: 'webhooks',
    permission: 'webhooks:manage',
    response: z.object({ items: z.array(WebhookView) }),
    handler: async ({ deps, actor }) => ({ items: (await listWebhooks(deps, actor)).map(webhookView) }),
  }),
  defineRoute({
    method: 'post',
    path: '/webhooks',
    operationId: 'createWebhook',
    summary: 'Send a project’s trail events (globs like approval.*) to a URL, signed with HMAC-SHA256',
    description:
      'Deliveries go through the outbox: retried with backoff on failure (Retry-After honoured), each attempt logged. ' +
      'Verify X-Warden-Signature (t=<unix>,v1=<hex>) as HMAC-SHA256(secret, "<t>.<raw body>") and reject a t more than ' +
      '5 minutes off; X-Warden-Delivery stays the same across retries.',
    tag: 'webhooks',
    permission: 'webhooks:manage',
    body: WebhookCreate,
    response: z.object({ webhook: WebhookView, secret: SecretView.shape.secret }),
    status: 201,
    handler: async ({ body, deps, actor, meta }) => {
      const created = await createWebhook(deps, actor, body, meta);
      return { webhook: webhookView(created.subscription), secret: created.secret };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/webhooks/{id}',
    operationId: 'getWebhook',
    summary: 'One webhook subscription',
    tag: 'webhooks',
    permission: 'webhooks:manage',
    params: IdParam,
    response: WebhookView,
    handler: async ({ params, deps, actor }) => webhookView(await getWebhook(deps, actor, params.id)),
  }),
  defineRoute({
    method: 'patch',
    path: '/webhooks/{id}',
    operationId: 'updateWebhook',
    summary: 'Change a subscription’s URL, events or description, or pause it (active: false)',
    tag: 'webhooks',
    permission: 'webhooks:manage',
    params: IdParam,
    body: WebhookPatch,
    response: WebhookView,
    handler: async ({ params, body, deps, actor, meta }) =>
      webhookView(await updateWebhook(deps, actor, params.id, body, meta)),
  }),
  defineRoute({
    method: 'delete',
    path: '/webhooks/{id}',
    operationId: 'deleteWebhook',
    summary: 'Remove a subscription; queued deliveries to it are dropped',
    tag: 'webhooks',
    permission: 'webhooks:manage',
    params: IdParam,
    response: null,
    handler: async ({ params, deps, actor, meta }) => {
      await deleteWebhook(deps, actor, params.id, meta);
    },
  }),
  defineRoute({
    method: 'post',
    path: '/webhooks/{id}/rotate-secret',
    operationId: 'rotateWebhookSecret',
    summary: 'Replace the signing secret (shown once); the old one stops at once',
    tag: 'webhooks',
    permission: 'webhooks:manage',
    params: IdParam,
    response: SecretView,
    handler: async ({ params, deps, actor, meta }) => ({
      secret: await rotateWebhookSecret(deps, actor, params.id, meta),
    }),
  }),
  defineRoute({
    method: 'get',
    path: '/webhooks/{id}/deliveries',
    operationId: 'listWebhookDeliveries',
    summary: 'The delivery log: every attempt, newest first',
    tag: 'webhooks',
    permission: 'webhooks:manage',
    params: IdParam,
    query: z
      .object({
        limit: z.coerce.number().int().min(1).max(200).optional(),
        cursor: z.string().max(200).optional(),
      })
      .strict(),
    response: pageOf(DeliveryView),
    handler: async ({ params, query, deps, actor }) => {
      const limit = query.limit ?? 50;
      const beforeId = query.cursor ? decodeCursor<number>(query.cursor, 'number') : undefined;
      const rows = await listWebhookDeliveries(deps, actor, params.id, {
        limit,
        ...(beforeId ? { beforeId } : {}),
      });
      return {
        items: rows.map(deliveryView),
        nextCursor: rows.length === limit ? encodeCursor(rows[rows.length - 1]!.id) : null,
      };
    },
  }),
];
