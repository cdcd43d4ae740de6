import { type App, SocketModeReceiver } from '@slack/bolt';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { Queryable } from '../../storage/db.js';
import { rememberEventId } from '../../storage/slack.js';
import { slackLogger } from './web.js';

/**
 * Socket Mode, for a Warden that Slack cannot reach over HTTP: Bolt's receiver opens a
 * WebSocket with the app-level token (apps.connections.open) and requests arrive as envelopes.
 * The socket is authenticated by the token, so there is no signature to check; retried events
 * are still recognised by their event_id.
 */
export interface SlackSocket {
  readonly receiver: SocketModeReceiver;
  /** True while the WebSocket is open (for /readyz). */
  connected(): boolean;
  /** Drop event retries before any listener runs; call once the Bolt app exists. */
  install(app: App): void;
}

export interface SlackSocketOptions {
  appToken: string;
  apiUrl: string | undefined;
  sql: Queryable;
  clock: Clock;
  log: Logger;
}

const EVENT_TTL_MS = 24 * 60 * 60_000;

export function createSlackSocket(options: SlackSocketOptions): SlackSocket {
  const { sql, clock, log } = options;
  const logger = slackLogger(log);
  const receiver = new SocketModeReceiver({
    appToken: options.appToken,
    logger,
    installerOptions: {
      clientOptions: options.apiUrl ? { slackApiUrl: options.apiUrl } : {},
    },
  });
  let open = false;
  receiver.client.on('connected', () => {
    open = true;
    log.info('Slack Socket Mode connected');
  });
  receiver.client.on('disconnected', () => {
    if (open) log.warn('Slack Socket Mode disconnected; it reconnects by itself');
    open = false;
  });
  return {
    receiver,
    connected: () => open,
    install(app) {
      app.use(async ({ body, next }) => {
        const event = body as { type?: unknown; event_id?: unknown };
        if (event.type === 'event_callback' && typeof event.event_id === 'string') {
          const now = clock.now();
          const fresh = await rememberEventId(sql, {
            eventId: event.event_id.slice(0, 255),
            receivedAt: now,
            expiresAt: new Date(now.getTime() + EVENT_TTL_MS),
          });
          if (!fresh) {
            log.info('Slack event already taken; not run again');
            return;
          }
        }
        await next();
      });
    },
  };
}
