import { EventEmitter } from 'node:events';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';

/**
 * The Socket Mode side of the fake: apps.connections.open hands out a ws://127.0.0.1 URL with a
 * one-time ticket, the socket gets `hello`, then the test pushes envelopes and awaits their acks.
 */

export interface SocketEnvelope {
  envelope_id: string;
  type: string;
  payload: unknown;
  accepts_response_payload?: boolean;
  retry_attempt?: number;
  retry_reason?: string;
}

export interface SocketAck {
  envelope_id: string;
  payload?: unknown;
}

export interface PushInput {
  /** 'events_api', 'slash_commands' or 'interactive'. */
  type: string;
  payload: unknown;
  envelope_id?: string;
  accepts_response_payload?: boolean;
}

export interface FakeSocketMode {
  readonly connectionCount: number;
  readonly sent: readonly SocketEnvelope[];
  readonly acks: readonly SocketAck[];
  /** Makes a one-time URL, as apps.connections.open does. */
  issueUrl(): string;
  /** Resolves when at least `count` sockets have received hello. */
  waitForConnection(options?: { count?: number; timeoutMs?: number }): Promise<void>;
  /** Sends an envelope to the newest socket and resolves with its ack (Slack waits 3 s). */
  push(input: PushInput, options?: { timeoutMs?: number }): Promise<SocketAck>;
  /** Asks the clients to reconnect, as Slack does before recycling a host. */
  requestReconnect(reason?: string): void;
  close(): Promise<void>;
}

export function startFakeSocketMode(
  httpServer: http.Server,
  options: { appId: string; violation(kind: string, message: string): void },
): FakeSocketMode {
  const wss = new WebSocketServer({ noServer: true });
  const tickets = new Set<string>();
  const open: WebSocket[] = [];
  const sent: SocketEnvelope[] = [];
  const acks: SocketAck[] = [];
  const events = new EventEmitter();
  let ticketCounter = 0;
  let envelopeCounter = 0;
  const origin = () => {
    const address = httpServer.address();
    return typeof address === 'object' && address ? `ws://127.0.0.1:${address.port}` : 'ws://127.0.0.1';
  };

  httpServer.on('upgrade', (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const target = new URL(request.url ?? '/', 'http://127.0.0.1');
    const ticket = target.searchParams.get('ticket') ?? '';
    if (target.pathname !== '/link/' || !tickets.delete(ticket)) {
      options.violation('socket_refused', `WebSocket upgrade to ${request.url} without a fresh ticket`);
      socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      open.push(ws);
      ws.on('close', () => {
        const index = open.indexOf(ws);
        if (index !== -1) open.splice(index, 1);
      });
      ws.on('message', (data) => {
        let message: SocketAck;
        try {
          message = JSON.parse(data.toString()) as SocketAck;
        } catch {
          options.violation('socket_garbage', `client sent non-JSON: ${data.toString().slice(0, 200)}`);
          return;
        }
        const envelope = sent.find((e) => e.envelope_id === message.envelope_id);
        if (!envelope) {
          options.violation('unknown_ack', `ack for unknown envelope ${String(message.envelope_id)}`);
          return;
        }
        if (acks.some((a) => a.envelope_id === message.envelope_id)) {
          options.violation('double_ack', `envelope ${message.envelope_id} acknowledged twice`);
          return;
        }
        acks.push(message);
        events.emit('ack', message);
      });
      ws.send(
        JSON.stringify({
          type: 'hello',
          num_connections: open.length,
          debug_info: { host: 'fake-slack', approximate_connection_time: 18060 },
          connection_info: { app_id: options.appId },
        }),
      );
      events.emit('connection');
    });
  });

  function waitFor<T>(
    event: string,
    ready: () => T | undefined,
    timeoutMs: number,
    what: string,
  ): Promise<T> {
    const now = ready();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const check = () => {
        const value = ready();
        if (value === undefined) return;
        clearTimeout(timer);
        events.off(event, check);
        resolve(value);
      };
      const timer = setTimeout(() => {
        events.off(event, check);
        reject(new Error(`fake Slack Socket Mode: ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      events.on(event, check);
    });
  }

  return {
    get connectionCount() {
      return open.length;
    },
    sent,
    acks,
    issueUrl() {
      ticketCounter += 1;
      const ticket = `ticket-${ticketCounter}`;
      tickets.add(ticket);
      return `${origin()}/link/?ticket=${ticket}&app_id=${options.appId}`;
    },
    async waitForConnection(waitOptions = {}) {
      const count = waitOptions.count ?? 1;
      await waitFor(
        'connection',
        () => (open.length >= count ? true : undefined),
        waitOptions.timeoutMs ?? 5000,
        `no ${count} connection(s)`,
      );
    },
    push(input, pushOptions = {}) {
      const socket = open[open.length - 1];
      if (!socket) return Promise.reject(new Error('fake Slack Socket Mode: no client is connected'));
      envelopeCounter += 1;
      const envelope: SocketEnvelope = {
        envelope_id: input.envelope_id ?? `envelope-${envelopeCounter}`,
        type: input.type,
        payload: input.payload,
        accepts_response_payload: input.accepts_response_payload ?? input.type !== 'events_api',
      };
      sent.push(envelope);
      socket.send(JSON.stringify(envelope));
      return waitFor(
        'ack',
        () => acks.find((a) => a.envelope_id === envelope.envelope_id),
        pushOptions.timeoutMs ?? 3000,
        `envelope ${envelope.envelope_id} was not acknowledged`,
      );
    },
    requestReconnect(reason = 'refresh_requested') {
      for (const socket of open) socket.send(JSON.stringify({ type: 'disconnect', reason }));
    },
    async close() {
      // A clean close handshake, so a client still connected (e.g. a Bolt app whose stop() resolved
      // before the handshake finished) does not log a WebSocket error; stragglers are cut after 1 s.
      const closing = [...open].map(
        (socket) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              socket.terminate();
              resolve();
            }, 1000);
            socket.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
            socket.close(1001, 'fake Slack stopping');
          }),
      );
      await Promise.all(closing);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
