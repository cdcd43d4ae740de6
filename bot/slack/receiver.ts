import type { App, Receiver, ReceiverEvent } from '@slack/bolt';
import { type Context, Hono } from 'hono';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { Sql } from '../../storage/db.js';
import { purgeExpiredSlackRequests, rememberEventId, rememberSignature } from '../../storage/slack.js';
import type { AppEnv } from '../http/context.js';
import { errorResponse } from '../http/errors.js';
import { parseSlackBody } from './parse.js';
import { describeFailure, SIGNATURE_WINDOW_SECONDS, verifySlackSignature } from './verify.js';

/**
 * Bolt's receiver for HTTP, mounted in Warden's hono server at /slack/events. Before Bolt sees
 * anything: the v0 signature over the raw body, a timestamp within ±5 minutes on both sides, and
 * the signature inserted into the replay cache (a second use answers 401). Events retried by
 * Slack are recognised by their event_id. Only then is the request handed to Bolt, and the HTTP
 * response is whatever the listener acknowledges with.
 */
export interface SlackHttpReceiverOptions {
  signingSecret: string;
  /** The pool for the replay cache and event ids (the adapter's own, so they never queue). */
  sql: Sql;
  clock: Clock;
  log: Logger;
  /** Largest body accepted; Slack's payloads are far smaller. Default 1 MiB. */
  maxBodyBytes?: number;
  /** A request whose listener has not acknowledged by then gets 503. Default 10 s. */
  ackTimeoutMs?: number;
}

export interface SlackHttpReceiver extends Receiver {
  /** The hono routes, to mount at /slack (POST /slack/events). */
  readonly routes: Hono<AppEnv>;
  /** Resolves when every request handed to Bolt has finished (its after-ack work included). */
  idle(): Promise<void>;
}

/** How long signatures and event ids are kept: past the window, a signature cannot verify anyway. */
const REPLAY_TTL_MS = (2 * SIGNATURE_WINDOW_SECONDS + 60) * 1000;
const EVENT_TTL_MS = 24 * 60 * 60_000;
const PURGE_EVERY_MS = 60_000;

type Outcome = { kind: 'ack'; body: unknown } | { kind: 'none' } | { kind: 'error'; error: unknown };

function respond(c: Context<AppEnv>, outcome: Outcome, log: Logger): Response {
  if (outcome.kind === 'error') {
    log.error({ err: outcome.error }, 'a Slack request failed before it was acknowledged');
    return errorResponse(c, 500, 'internal', 'Warden could not take this request; nothing was done');
  }
  const body = outcome.kind === 'ack' ? outcome.body : undefined;
  if (body === undefined || body === null || body === '') return c.body(null, 200);
  if (typeof body === 'string') return c.text(body, 200);
  return c.json(body as Record<string, unknown>, 200);
}

export function createSlackHttpReceiver(options: SlackHttpReceiverOptions): SlackHttpReceiver {
  const { sql, clock, log } = options;
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const ackTimeoutMs = options.ackTimeoutMs ?? 10_000;
  const inflight = new Set<Promise<unknown>>();
  let bolt: App | undefined;
  let lastPurge = 0;

  function purgeSometimes(now: Date): void {
    if (now.getTime() - lastPurge < PURGE_EVERY_MS) return;
    lastPurge = now.getTime();
    const purge = purgeExpiredSlackRequests(sql, now).catch((error: unknown) =>
      log.warn({ err: error }, 'could not purge the Slack replay cache; it is retried in a minute'),
    );
    track(purge);
  }

  function track(p: Promise<unknown>): void {
    inflight.add(p);
    void p.finally(() => inflight.delete(p)).catch(() => {});
  }

  async function dispatch(
    body: Record<string, unknown>,
    retryNum?: number,
    retryReason?: string,
  ): Promise<Outcome> {
    if (!bolt) throw new Error('the Slack receiver was not given to a Bolt app');
    let settle: (o: Outcome) => void = () => {};
    const settled = new Promise<Outcome>((resolve) => {
      settle = resolve;
    });
    let answered = false;
    const ack = async (response?: unknown) => {
      if (answered) return;
      answered = true;
      settle({ kind: 'ack', body: response });
    };
    const event: ReceiverEvent = {
      body,
      ack,
      ...(retryNum === undefined ? {} : { retryNum }),
      ...(retryReason === undefined ? {} : { retryReason }),
    };
    const work = bolt.processEvent(event).then(
      () => settle({ kind: 'none' }),
      (error: unknown) => settle({ kind: 'error', error }),
    );
    track(work);
    const timer = setTimeout(
      () => settle({ kind: 'error', error: new Error('no acknowledgement in time') }),
      ackTimeoutMs,
    );
    try {
      return await settled;
    } finally {
      clearTimeout(timer);
    }
  }

  const routes = new Hono<AppEnv>();
  routes.post('/events', async (c) => {
    const declared = Number(c.req.header('content-length') ?? 0);
    if (declared > maxBodyBytes) return errorResponse(c, 400, 'bad_request', 'the request body is too large');
    const raw = await c.req.text();
    if (Buffer.byteLength(raw) > maxBodyBytes)
      return errorResponse(c, 400, 'bad_request', 'the request body is too large');
    const now = clock.now();
    const verdict = verifySlackSignature({
      signingSecret: options.signingSecret,
      rawBody: raw,
      timestampHeader: c.req.header('x-slack-request-timestamp'),
      signatureHeader: c.req.header('x-slack-signature'),
      now,
    });
    if (!verdict.ok) {
      c.get('log').warn(
        { reason: verdict.reason },
        `refused a Slack request: ${describeFailure(verdict.reason)}`,
      );
      return errorResponse(c, 401, 'unauthenticated', 'the Slack request signature is not valid');
    }
    const expiresAt = new Date(verdict.timestamp * 1000 + REPLAY_TTL_MS);
    if (!(await rememberSignature(sql, { signature: verdict.signature, expiresAt }))) {
      c.get('log').warn('refused a Slack request: its signature was already used (a replay)');
      return errorResponse(c, 401, 'unauthenticated', 'this Slack request was already received');
    }
    purgeSometimes(now);
    const parsed = parseSlackBody(raw, c.req.header('content-type'));
    if ('error' in parsed) {
      c.get('log').warn({ problem: parsed.error }, 'refused a signed Slack request Warden cannot read');
      return errorResponse(c, 400, 'bad_request', parsed.error);
    }
    if (parsed.kind === 'url_verification') return c.json({ challenge: parsed.challenge });
    if (parsed.kind === 'ssl_check') return c.body(null, 200);
    const retryHeader = c.req.header('x-slack-retry-num');
    const retryNum = retryHeader && /^\d{1,3}$/.test(retryHeader) ? Number(retryHeader) : undefined;
    const retryReason = c.req.header('x-slack-retry-reason')?.slice(0, 100);
    if (parsed.kind === 'event' && typeof parsed.body.event_id === 'string') {
      const fresh = await rememberEventId(sql, {
        eventId: parsed.body.event_id.slice(0, 255),
        receivedAt: now,
        expiresAt: new Date(now.getTime() + EVENT_TTL_MS),
      });
      if (!fresh) {
        c.get('log').info(
          { retryNum, retryReason },
          'Slack event already taken; acknowledged without running it again',
        );
        return c.body(null, 200);
      }
    }
    return respond(c, await dispatch(parsed.body, retryNum, retryReason), c.get('log'));
  });

  return {
    routes,
    init(app: App) {
      bolt = app;
    },
    async start() {
      return undefined;
    },
    async stop() {
      await this.idle();
      return undefined;
    },
    async idle() {
      while (inflight.size > 0) await Promise.allSettled([...inflight]);
    },
  };
}
