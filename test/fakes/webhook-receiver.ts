import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DELIVERY_HEADER,
  EVENT_HEADER,
  SIGNATURE_HEADER,
  verifyWebhookSignature,
} from '../../commands/webhooks/signature.js';

/**
 * A webhook receiver on 127.0.0.1 that does what a careful integrator would: it accepts only
 * `POST <path>` with JSON, verifies `X-Warden-Signature` over the raw body with the shared secret
 * and a 5-minute tolerance against *its* clock (a fake one in tests), and keeps each delivery id
 * once. It is strict: anything unexpected (another path or method, a bad or missing signature) is
 * answered 4xx and recorded in `problems`, which a test asserts is empty.
 *
 * `failNext(n)` makes the next n well-signed deliveries fail with 500 (or the status given), as
 * a receiver that is down would, to exercise retries.
 */
export interface ReceivedWebhook {
  deliveryId: string;
  event: string;
  signature: string;
  body: Record<string, unknown>;
  rawBody: string;
  /** What the receiver answered. */
  status: number;
}

export interface WebhookReceiver {
  url: string;
  /** Every well-signed request, in order, including the ones it failed on purpose. */
  readonly requests: ReceivedWebhook[];
  /** Deliveries accepted (2xx), one per delivery id. */
  readonly accepted: ReceivedWebhook[];
  /** Requests it did not expect; should stay empty. */
  readonly problems: string[];
  failNext(count: number, status?: number, headers?: Record<string, string>): void;
  /** Resolves when `count` requests have arrived (with a deadline). */
  waitForRequests(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface WebhookReceiverOptions {
  secret: string;
  /** The receiver's clock, for the timestamp tolerance. */
  now: () => Date;
  path?: string;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startWebhookReceiver(options: WebhookReceiverOptions): Promise<WebhookReceiver> {
  const path = options.path ?? '/hooks/warden';
  const requests: ReceivedWebhook[] = [];
  const accepted: ReceivedWebhook[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  const failures: { status: number; headers: Record<string, string> }[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];

  function refuse(res: ServerResponse, status: number, problem: string): void {
    problems.push(problem);
    res.writeHead(status, { 'content-type': 'text/plain' }).end(problem);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    if (req.method !== 'POST' || req.url !== path)
      return refuse(res, 404, `unexpected ${req.method} ${req.url}`);
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
      return refuse(res, 415, `unexpected content-type ${req.headers['content-type']}`);
    }
    const signature = String(req.headers[SIGNATURE_HEADER.toLowerCase()] ?? '');
    const check = verifyWebhookSignature(signature, raw, options.secret, { now: options.now() });
    if (!check.ok) return refuse(res, 401, `bad signature: ${check.reason}`);
    const deliveryId = String(req.headers[DELIVERY_HEADER.toLowerCase()] ?? '');
    if (!deliveryId) return refuse(res, 400, `no ${DELIVERY_HEADER}`);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return refuse(res, 400, 'the body is not JSON');
    }
    if (body.id !== deliveryId) return refuse(res, 400, 'the body id and the delivery header differ');
    const failure = failures.shift();
    const status = failure ? failure.status : 204;
    const received: ReceivedWebhook = {
      deliveryId,
      event: String(req.headers[EVENT_HEADER.toLowerCase()] ?? ''),
      signature,
      body,
      rawBody: raw,
      status,
    };
    requests.push(received);
    if (!failure && !seen.has(deliveryId)) {
      seen.add(deliveryId);
      accepted.push(received);
    }
    res.writeHead(status, failure?.headers ?? {}).end();
    for (const w of waiters.filter((x) => requests.length >= x.count)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => refuse(res, 500, `receiver crashed: ${String(error)}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    requests,
    accepted,
    problems,
    failNext(count, status = 500, headers = {}) {
      for (let i = 0; i < count; i++) failures.push({ status, headers });
    },
    waitForRequests(count, timeoutMs = 10_000) {
      if (requests.length >= count) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`only ${requests.length} of ${count} webhook requests arrived`)),
          timeoutMs,
        );
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
