import { z } from 'zod';
import type { Clock } from '../../lib/clock.js';
import type { Vault } from '../../lib/crypto.js';
import { AppError, IntegrationError } from '../../lib/errors.js';
import type { Sql } from '../../storage/db.js';
import type { OutboxItem } from '../../storage/outbox.js';
import { getSubscriptionForDelivery, insertDelivery } from '../../storage/webhooks.js';
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signWebhook } from './signature.js';
import { webhookSecretContext } from './subscriptions.js';

/**
 * The outbox deliverer for channel `webhook`: POSTs one event to one subscription, signed (see
 * signature.ts), and logs every attempt in webhook_deliveries. A non-2xx answer or a network
 * failure throws, so the outbox worker retries with backoff (honouring Retry-After on 429/503) and
 * dead-letters after its maximum attempts. Redirects are not followed: the signed URL is the one
 * that must answer.
 */
export interface WebhookDelivererOptions {
  sql: Sql;
  /** The vault, or a getter for one made later (main.ts builds the deliverers before the deps). */
  vault: Vault | (() => Vault);
  clock: Clock;
  /** Default: the global fetch. */
  fetch?: typeof fetch;
  /** Per attempt. Default 10 s. */
  timeoutMs?: number;
}

const Payload = z.object({
  subscriptionId: z.number().int().positive(),
  event: z.object({ seq: z.number().int(), type: z.string() }).loose(),
});

function retryAfterSeconds(value: string | null): number | undefined {
  if (!value) return undefined;
  if (/^[0-9]{1,6}$/.test(value.trim())) return Number(value.trim());
  return undefined;
}

/**
 * @example
 * deliverers.webhook = createWebhookDeliverer({ sql, vault, clock });
 */
export function createWebhookDeliverer(options: WebhookDelivererOptions) {
  const { sql, clock } = options;
  const vault = (): Vault => (typeof options.vault === 'function' ? options.vault() : options.vault);
  const send = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 10_000;
  return {
    async deliver(item: OutboxItem): Promise<Record<string, unknown>> {
      const parsed = Payload.safeParse(item.payload);
      if (!parsed.success)
        throw new AppError('bad_request', 'a webhook outbox item without a subscription and event');
      const { subscriptionId, event } = parsed.data;
      const sub = await getSubscriptionForDelivery(sql, subscriptionId);
      // Deleted or paused since the event: nothing to send, and nothing to retry.
      if (!sub || !sub.active) return { skipped: sub ? 'paused' : 'deleted' };
      const secret = vault().openText(sub.secretSealed, webhookSecretContext(sub.id));
      const body = JSON.stringify({ id: item.idempotencyKey, ...event });
      const timestamp = Math.floor(clock.now().getTime() / 1000);
      const started = performance.now();
      const log = (outcome: 'delivered' | 'failed', httpStatus: number | null, error: string | null) =>
        insertDelivery(sql, {
          subscriptionId: sub.id,
          outboxId: item.id,
          deliveryKey: item.idempotencyKey,
          eventSeq: event.seq,
          eventAction: event.type,
          attempt: item.attempts,
          outcome,
          httpStatus,
          error,
          durationMs: Math.round(performance.now() - started),
          at: clock.now(),
        });
      let response: Response;
      try {
        response = await send(sub.url, {
          method: 'POST',
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
          headers: {
            'content-type': 'application/json',
            'user-agent': 'Warden-Webhooks/1',
            [SIGNATURE_HEADER]: signWebhook(secret, timestamp, body),
            [DELIVERY_HEADER]: item.idempotencyKey,
            [EVENT_HEADER]: event.type,
          },
          body,
        });
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        await log('failed', null, reason.slice(0, 500));
        throw new IntegrationError('webhook', `could not reach ${new URL(sub.url).origin}: ${reason}`, {
          cause: error,
        });
      }
      // The answer's body is not needed; drop it so the connection can be reused.
      await response.body?.cancel().catch(() => undefined);
      if (response.status >= 200 && response.status < 300) {
        await log('delivered', response.status, null);
        return { status: response.status, subscriptionId: sub.id };
      }
      await log('failed', response.status, `answered ${response.status}`);
      throw new IntegrationError('webhook', `${new URL(sub.url).origin} answered ${response.status}`, {
        ...(response.status === 429 || response.status === 503
          ? { retryAfter: retryAfterSeconds(response.headers.get('retry-after')) }
          : {}),
      });
    },
  };
}
