import { Hono } from 'hono';
import type { Clock } from '../../lib/clock.js';
import { randomToken, sha256Hex } from '../../lib/crypto.js';
import { AppError } from '../../lib/errors.js';
import { findChatImage, insertChatImage, purgeExpiredChatImages } from '../../storage/chat-images.js';
import type { Queryable } from '../../storage/db.js';
import { pngOf } from '../chat/deliver.js';
import type { ReplyImage } from '../chat/model.js';
import type { AppEnv } from '../http/context.js';
import type { CardImage } from './render.js';

/**
 * Pictures in Teams cards. An Adaptive Card shows an `Image` by URL, Teams only loads https URLs,
 * and a digest's chart (30–60 KB of PNG, a third more in base64) does not fit in a Teams message
 * (~28 KB). So the PNG is stored in Postgres (chat_images) and Warden serves it at
 *
 *   GET /images/{id}.png?t={token}
 *
 * The token is 32 random bytes, one per image. Only its SHA-256 is stored, as for API tokens
 * (commands/tokens): a capability for one picture needs no signing key, so the platform does
 * not need the vault (it is built before the deps), and a leaked database row opens nothing.
 * Unknown id, wrong token, expired image: the same JSON 404, so a guess learns nothing.
 *
 * When WARDEN_PUBLIC_URL is not https (embedded or a developer's machine), Teams would not load
 * the link: the picture goes inline as a `data:` URI when the card still fits, and otherwise the
 * card says the chart is on the dashboard (render.ts decides, by size).
 */
export const IMAGE_PATH = '/images';
/** How long a linked picture stays fetchable: a digest is still scrolled back to for a while. */
export const DEFAULT_IMAGE_TTL_MS = 90 * 86_400_000;
/** Teams shows pictures up to 1 MB; a bigger one is not stored and the card points at the dashboard. */
export const MAX_IMAGE_BYTES = 1024 * 1024;
/** How long a client or Teams' image proxy may reuse a fetched picture. */
const MAX_AGE_SECONDS = 86_400;

const FILE = /^([1-9][0-9]{0,14})\.png$/;
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** The public base URL when Teams can load images from it (https), else undefined. */
export function httpsBase(publicUrl: string | undefined): string | undefined {
  if (!publicUrl) return undefined;
  try {
    return new URL(publicUrl).protocol === 'https:' ? publicUrl.replace(/\/+$/, '') : undefined;
  } catch {
    return undefined;
  }
}

export interface ImageLinkerOptions {
  sql: Queryable;
  clock: Clock;
  /** WARDEN_PUBLIC_URL; images are linked only when it is https. */
  publicUrl: string | undefined;
  ttlMs?: number;
}

/**
 * Turns a reply's image into what a card shows: a link to a stored copy (https public URL), the
 * PNG inline (otherwise), or only its title when it is too big to show at all. Undefined when the
 * bytes are not a PNG: the text still goes out.
 *
 * @example
 * const link = createImageLinker({ sql, clock, publicUrl: config.publicUrl });
 * const image = reply.image ? await link(reply.image, outboxItem.idempotencyKey) : undefined;
 * cardMessage(reply, image ? { image } : {});
 */
export function createImageLinker(
  options: ImageLinkerOptions,
): (image: ReplyImage, idempotencyKey?: string) => Promise<CardImage | undefined> {
  const { sql, clock } = options;
  const base = httpsBase(options.publicUrl);
  const ttlMs = options.ttlMs ?? DEFAULT_IMAGE_TTL_MS;
  return async (image, idempotencyKey) => {
    const png = pngOf(image.png);
    if (!png) return undefined;
    // The reply comes back from the outbox as JSON: take nothing about it on trust.
    const title = typeof image.title === 'string' && image.title.trim() ? image.title.slice(0, 300) : 'Chart';
    const alt = typeof image.alt === 'string' ? image.alt.slice(0, 2000) : title;
    if (png.length > MAX_IMAGE_BYTES) return { title, alt };
    if (!base) return { title, alt, url: `data:image/png;base64,${png.toString('base64')}` };
    const now = clock.now();
    const token = randomToken(32);
    // No purge job runs for these rows: each new picture clears the expired ones (at most a day late).
    await purgeExpiredChatImages(sql, now);
    const id = await insertChatImage(sql, {
      tokenHash: sha256Hex(token),
      png,
      title,
      alt,
      createdAt: now,
      expiresAt: new Date(now.getTime() + ttlMs),
      // A retried send re-keys its own row rather than storing the picture again.
      ...(idempotencyKey ? { idempotencyKey } : {}),
    });
    return { title, alt, url: `${base}${IMAGE_PATH}/${id}.png?t=${token}` };
  };
}

function missing(): AppError {
  return new AppError(
    'not_found',
    'there is no such image, or its link has expired; the compliance dashboard has the current chart',
  );
}

/**
 * `GET /images/{id}.png?t={token}`: the stored picture, for Teams (and anyone holding the link).
 *
 * @example
 * app.route('/', createChatImageRoutes({ sql: deps.sql, clock: deps.clock }));
 */
export function createChatImageRoutes(options: { sql: Queryable; clock: Clock }): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get(`${IMAGE_PATH}/:file`, async (c) => {
    const file = FILE.exec(c.req.param('file'));
    const token = c.req.query('t') ?? '';
    if (!file || !TOKEN.test(token)) throw missing();
    const now = options.clock.now();
    const image = await findChatImage(options.sql, { id: Number(file[1]), tokenHash: sha256Hex(token), now });
    if (!image) throw missing();
    const left = Math.floor((image.expiresAt.getTime() - now.getTime()) / 1000);
    return c.body(new Uint8Array(image.png), 200, {
      'content-type': 'image/png',
      // private: the link is a capability, so shared caches should not keep a copy of their own.
      'cache-control': `private, max-age=${Math.max(0, Math.min(MAX_AGE_SECONDS, left))}`,
      'x-content-type-options': 'nosniff',
    });
  });
  return app;
}
