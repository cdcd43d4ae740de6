import { z } from 'zod';
import { randomToken } from '../../lib/crypto.js';
import { AppError } from '../../lib/errors.js';
import { withTx } from '../../storage/db.js';
import { getProjectById, getProjectBySlug } from '../../storage/inventory.js';
import {
  deleteSubscription,
  getSubscription,
  insertSubscription,
  listDeliveries,
  listSubscriptions,
  setSubscriptionSecret,
  updateSubscription,
  type WebhookDelivery,
  type WebhookSubscription,
} from '../../storage/webhooks.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { ProjectSlug } from '../inventory/schema.js';
import { actorFacts, actorRef, type CallMeta, projectsWith } from '../inventory/scope.js';
import { type Actor, authorize } from '../rbac/authorize.js';

/**
 * Webhook subscriptions: a project (or, for global admins, every project) sends the trail events
 * it names to a URL. Managing them needs webhooks:manage on the project (globally for a global
 * subscription). The signing secret is made here, sealed by the vault, and shown once.
 */
const EVENT_GLOB = /^(\*|[a-z0-9*][a-z0-9.*-]{0,99})$/;

export const WebhookUrl = z
  .string()
  .max(2000)
  .refine((text) => {
    try {
      const url = new URL(text);
      return (
        (url.protocol === 'https:' || url.protocol === 'http:') && !url.username && !url.password && !url.hash
      );
    } catch {
      return false;
    }
  }, 'an http(s) URL without credentials or #fragment');

export const EventGlobs = z
  .array(
    z.string().regex(EVENT_GLOB, 'an event type like approval.requested, or a glob like approval.* or *'),
  )
  .min(1)
  .max(50);

export const WebhookCreate = z
  .object({
    project: ProjectSlug.nullable().describe(
      'the project whose events are sent; null for every project (global admins)',
    ),
    url: WebhookUrl,
    events: EventGlobs,
    description: z.string().max(300).optional(),
    active: z.boolean().optional(),
    secret: z.string().min(24).max(200).optional().describe('the signing secret; made for you when left out'),
  })
  .strict();
export type WebhookCreate = z.infer<typeof WebhookCreate>;

export const WebhookPatch = WebhookCreate.omit({ project: true, secret: true }).partial().strict();
export type WebhookPatch = z.infer<typeof WebhookPatch>;

/** `approval.*` → `approval.%` (globs have no `%`, `_` or `\`, so nothing else needs escaping). */
export function likePattern(glob: string): string {
  return glob.replaceAll('*', '%');
}

/** The vault context a subscription's secret is sealed under (the deliverer opens it with it). */
export function webhookSecretContext(id: number): string {
  return `webhook:${id}`;
}

async function projectIdOf(deps: Deps, slug: string | null): Promise<{ id: number; slug: string } | null> {
  if (slug === null) return null;
  const project = await getProjectBySlug(deps.sql, slug);
  if (!project)
    throw new AppError('not_found', `there is no project ${slug}; type \`projects\` to list them`);
  return { id: project.id, slug: project.slug };
}

async function scopeOf(deps: Deps, sub: WebhookSubscription) {
  if (sub.projectId === null) return null;
  return {
    id: sub.projectId,
    slug: sub.projectSlug ?? (await getProjectById(deps.sql, sub.projectId))?.slug ?? '',
  };
}

/** The subscription, if the actor may manage it (else not found, so ids do not leak). */
export async function getWebhook(deps: Deps, actor: Actor, id: number): Promise<WebhookSubscription> {
  const sub = Number.isSafeInteger(id) ? await getSubscription(deps.sql, id) : undefined;
  const allowed = projectsWith(actor, 'webhooks:manage');
  if (!sub || (allowed !== null && (sub.projectId === null || !allowed.includes(sub.projectId)))) {
    if (allowed !== null && allowed.length === 0) authorize(actor, 'webhooks:manage', null);
    throw new AppError('not_found', `there is no webhook #${id} you may manage`);
  }
  return sub;
}

export async function listWebhooks(deps: Deps, actor: Actor): Promise<WebhookSubscription[]> {
  const ids = projectsWith(actor, 'webhooks:manage');
  if (ids !== null && ids.length === 0) authorize(actor, 'webhooks:manage', null);
  return listSubscriptions(deps.sql, { projectIds: ids });
}

export async function createWebhook(
  deps: Deps,
  actor: Actor,
  input: WebhookCreate,
  meta: CallMeta = {},
): Promise<{ subscription: WebhookSubscription; secret: string }> {
  const project = await projectIdOf(deps, input.project);
  authorize(actor, 'webhooks:manage', project);
  const secret = input.secret ?? `whsec_${randomToken(32)}`;
  const id = await withTx(deps.sql, async (tx) => {
    const now = deps.clock.now();
    const newId = await insertSubscription(
      tx,
      {
        projectId: project?.id ?? null,
        url: input.url,
        events: input.events,
        patterns: input.events.map(likePattern),
        description: input.description ?? '',
        active: input.active ?? true,
        createdBy: actor.user.id,
      },
      now,
    );
    await setSubscriptionSecret(tx, newId, deps.vault.seal(secret, webhookSecretContext(newId)), now);
    await recordEvent(tx, deps, {
      actor: actorRef(actor),
      action: 'webhook.created',
      subject: { type: 'webhook', id: String(newId) },
      projectId: project?.id ?? null,
      // the URL's origin only: a path may carry a token of the receiver's
      data: { id: newId, origin: new URL(input.url).origin, events: input.events, ...actorFacts(actor) },
      ...(meta.requestId ? { requestId: meta.requestId } : {}),
    });
    return newId;
  });
  return { subscription: (await getSubscription(deps.sql, id))!, secret };
}

export async function updateWebhook(
  deps: Deps,
  actor: Actor,
  id: number,
  patch: WebhookPatch,
  meta: CallMeta = {},
): Promise<WebhookSubscription> {
  const sub = await getWebhook(deps, actor, id);
  authorize(actor, 'webhooks:manage', await scopeOf(deps, sub));
  const events = patch.events ?? sub.events;
  await withTx(deps.sql, async (tx) => {
    await updateSubscription(
      tx,
      id,
      {
        projectId: sub.projectId,
        url: patch.url ?? sub.url,
        events,
        patterns: events.map(likePattern),
        description: patch.description ?? sub.description,
        active: patch.active ?? sub.active,
      },
      deps.clock.now(),
    );
    await recordEvent(tx, deps, {
      actor: actorRef(actor),
      action: 'webhook.updated',
      subject: { type: 'webhook', id: String(id) },
      projectId: sub.projectId,
      data: {
        id,
        changed: Object.keys(patch).sort(),
        events,
        active: patch.active ?? sub.active,
        ...actorFacts(actor),
      },
      ...(meta.requestId ? { requestId: meta.requestId } : {}),
    });
  });
  return (await getSubscription(deps.sql, id))!;
}

export async function deleteWebhook(
  deps: Deps,
  actor: Actor,
  id: number,
  meta: CallMeta = {},
): Promise<void> {
  const sub = await getWebhook(deps, actor, id);
  authorize(actor, 'webhooks:manage', await scopeOf(deps, sub));
  await withTx(deps.sql, async (tx) => {
    await deleteSubscription(tx, id);
    await recordEvent(tx, deps, {
      actor: actorRef(actor),
      action: 'webhook.deleted',
      subject: { type: 'webhook', id: String(id) },
      projectId: sub.projectId,
      data: { id, ...actorFacts(actor) },
      ...(meta.requestId ? { requestId: meta.requestId } : {}),
    });
  });
}

/** A new signing secret, shown once; the old one stops working at once. */
export async function rotateWebhookSecret(
  deps: Deps,
  actor: Actor,
  id: number,
  meta: CallMeta = {},
): Promise<string> {
  const sub = await getWebhook(deps, actor, id);
  authorize(actor, 'webhooks:manage', await scopeOf(deps, sub));
  const secret = `whsec_${randomToken(32)}`;
  await withTx(deps.sql, async (tx) => {
    await setSubscriptionSecret(tx, id, deps.vault.seal(secret, webhookSecretContext(id)), deps.clock.now());
    await recordEvent(tx, deps, {
      actor: actorRef(actor),
      action: 'webhook.secret-rotated',
      subject: { type: 'webhook', id: String(id) },
      projectId: sub.projectId,
      data: { id, ...actorFacts(actor) },
      ...(meta.requestId ? { requestId: meta.requestId } : {}),
    });
  });
  return secret;
}

export async function listWebhookDeliveries(
  deps: Deps,
  actor: Actor,
  id: number,
  page: { beforeId?: number; limit: number },
): Promise<WebhookDelivery[]> {
  await getWebhook(deps, actor, id);
  return listDeliveries(deps.sql, id, page);
}
