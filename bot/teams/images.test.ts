import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type BuiltDigest, buildDigest, postDigest } from '../../commands/compliance/digest.js';
import { loadStandards } from '../../commands/compliance/evaluate.js';
import { DAY, NOW, scanAt, securityFindings } from '../../commands/compliance/testing.js';
import { createRegistry } from '../../commands/index.js';
import { randomToken, sha256Hex } from '../../lib/crypto.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import {
  cardImages,
  cardOf,
  cardText,
  type StoredActivity,
  TEAMS_MESSAGE_LIMIT_BYTES,
} from '../../test/fakes/teams-connector.js';
import type { Reply } from '../chat/model.js';
import type { ChatPlatform } from '../chat/platform.js';
import { DEFAULT_IMAGE_TTL_MS } from './images.js';
import { createTeamsChat } from './index.js';
import { CARD_BUDGET_BYTES, cardSize, renderCard } from './render.js';
import { startTeamsHarness, TEST_PUBLIC_URL, type TeamsHarness } from './testing.js';

const db = useTestDatabase('teams_images');
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
let h: TeamsHarness;
let deps: TestDeps;
let projectId: number;

/** A "PNG" of `size` bytes: the signature, then noise that no encoding can shrink. */
function fakePng(size: number): Buffer {
  return Buffer.concat([PNG_SIGNATURE, randomBytes(size - PNG_SIGNATURE.length)]);
}

async function imageRows(): Promise<number> {
  const [row] = await db.current.sql<{ n: number }[]>`select count(*)::int as n from chat_images`;
  return row!.n;
}

/** What the connector received for one message: its card and the request's size on the wire. */
function received(activity: StoredActivity) {
  const request = h.connector.server.requests.find(
    (r) => r.response?.status === 201 && (r.response.body as { id?: string }).id === activity.id,
  );
  return { card: cardOf(activity.body)!, bytes: request!.rawBody.length };
}

/** The same Teams platform as the harness's, but for a Warden whose public URL is plain http. */
function httpPlatform(): ChatPlatform {
  return createTeamsChat(
    { ...h.config, publicUrl: 'http://localhost:3000' },
    { sql: db.current.sql, clock: deps.clock, log: deps.log },
    { tokenSource: async () => h.connector.token },
  ).platform;
}

async function postAndRead(platform: ChatPlatform, reply: Reply, key: string) {
  const { messageId } = await platform.post(h.channel, reply, { idempotencyKey: key });
  return received(h.connector.activity(messageId)!);
}

beforeAll(async () => {
  const sql = db.current.sql;
  deps = createTestDeps(sql, { chatPlatforms: ['teams'] });
  h = await startTeamsHarness(sql, deps, createRegistry());
  const bob = h.newUser('Bob');
  expect((await h.send(h.botAdded(bob, 'channel'))).status).toBe(200);
  const [project] = await sql<{ id: number }[]>`
    insert into projects (slug, name, channels)
    values ('charts', 'Charts', ${sql.json({ teams: h.channel })}) returning id`;
  projectId = project!.id;
  for (const [name, pending] of [
    ['charts-web-1', 0],
    ['charts-web-2', 3],
  ] as const) {
    const [row] = await sql<{ id: number }[]>`
      insert into servers (name, project_id, created_at)
      values (${name}, ${projectId}, ${new Date(NOW.getTime() - 30 * DAY)}) returning id`;
    await scanAt(deps, row!.id, new Date(NOW.getTime() - DAY), securityFindings(pending));
  }
  deps.clock.set(NOW);
});

afterEach(() => h.connector.verify());
afterAll(() => h.stop());

describe('the digest chart in Teams', () => {
  let built: BuiltDigest;
  let url: URL;

  it('goes out through the outbox as one card whose Image is linked from Warden', async () => {
    const { byProject } = await loadStandards(deps.sql, NOW, [projectId]);
    built = await buildDigest(deps, byProject.get(projectId)!);
    expect(await postDigest(deps, built, { kind: 'manual', actor: 'test' })).toBe(true);
    const before = h.connector.posts(h.channel).length;
    expect(await h.worker.drainOnce()).toMatchObject({ delivered: 1, failed: 0, dead: 0 });

    const posts = h.connector.posts(h.channel).slice(before);
    expect(posts).toHaveLength(1);
    const { card, bytes } = received(posts[0]!);
    expect(bytes).toBeLessThanOrEqual(TEAMS_MESSAGE_LIMIT_BYTES);
    expect(cardText(card)).toContain('Compliance digest: Charts');
    const images = cardImages(card);
    expect(images).toHaveLength(1);
    expect(images[0]).toMatchObject({ type: 'Image', altText: built.reply.image!.alt, size: 'Auto' });
    url = new URL(String(images[0]!.url));
    expect(url.origin).toBe(TEST_PUBLIC_URL);
    expect(url.pathname).toMatch(/^\/images\/\d+\.png$/);
    // The chart alone would not fit in a Teams message: this is why it is linked.
    expect(Math.ceil((built.png.length * 4) / 3)).toBeGreaterThan(TEAMS_MESSAGE_LIMIT_BYTES - bytes);
  });

  it("serves the exact PNG at the card's link, as an image that is not sniffed", async () => {
    const res = await h.app.request(`${url.pathname}${url.search}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cache-control')).toBe('private, max-age=86400');
    expect(Buffer.from(await res.arrayBuffer()).equals(built.png)).toBe(true);
  });

  it('keeps only the hash of the link token', async () => {
    const token = url.searchParams.get('t')!;
    const rows = await db.current.sql<{ token_hash: string; title: string }[]>`
      select token_hash, title from chat_images where id = ${Number(/\d+/.exec(url.pathname)![0])}`;
    expect(rows).toEqual([{ token_hash: sha256Hex(token), title: built.reply.image!.title }]);
  });

  it('answers a wrong token, an unknown id or a malformed link with the same JSON 404', async () => {
    const id = /\d+/.exec(url.pathname)![0];
    const paths = [
      `/images/${id}.png?t=${randomToken(32)}`,
      `/images/${Number(id) + 1000}.png${url.search}`,
      `/images/${id}.png`,
      `/images/${id}.png?t=${url.searchParams.get('t')!.slice(1)}`,
      `/images/${id}.jpg${url.search}`,
      `/images/0${id}.png${url.search}`,
    ];
    const answers: unknown[] = [];
    for (const path of paths) {
      const res = await h.app.request(path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const text = await res.text();
      expect(text).not.toContain(built.reply.image!.title);
      expect(text).not.toContain(built.reply.image!.alt);
      const body = JSON.parse(text) as { error: { code: string; message: string } };
      answers.push({ code: body.error.code, message: body.error.message });
    }
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    expect(answers[0]).toEqual({
      code: 'not_found',
      message:
        'there is no such image, or its link has expired; the compliance dashboard has the current chart',
    });
  });

  it('stops serving the image after 90 days, and the next image stored clears it away', async () => {
    deps.clock.set(new Date(NOW.getTime() + DEFAULT_IMAGE_TTL_MS - 1000));
    expect((await h.app.request(`${url.pathname}${url.search}`)).status).toBe(200);
    deps.clock.set(new Date(NOW.getTime() + DEFAULT_IMAGE_TTL_MS));
    expect((await h.app.request(`${url.pathname}${url.search}`)).status).toBe(404);
    const stored = await imageRows();
    await postAndRead(
      h.teams.platform,
      {
        visibility: 'public',
        text: 'next',
        image: { png: fakePng(200).toString('base64'), alt: 'a', title: 't' },
      },
      'images-next',
    );
    expect(await imageRows()).toBe(stored);
    deps.clock.set(NOW);
  });
});

describe('the chart when Warden is not on https', () => {
  it('goes inline as a data: URI when the card still fits', async () => {
    const png = fakePng(2000);
    const before = await imageRows();
    const { card, bytes } = await postAndRead(
      httpPlatform(),
      {
        visibility: 'public',
        text: 'small chart',
        image: { png: png.toString('base64'), alt: 'tiny', title: 'T' },
      },
      'images-http-small',
    );
    expect(cardImages(card).map((i) => i.url)).toEqual([`data:image/png;base64,${png.toString('base64')}`]);
    expect(bytes).toBeLessThanOrEqual(TEAMS_MESSAGE_LIMIT_BYTES);
    expect(await imageRows()).toBe(before);
  });

  it('leaves a big chart to the dashboard, keeping the card under the limit and its text whole', async () => {
    const items = Array.from({ length: 12 }, (_, i) => ({
      text: `server-${i} is behind`,
      detail: '3 updates',
    }));
    const reply: Reply = {
      visibility: 'public',
      header: 'Compliance digest: Charts',
      text: 'x'.repeat(3000),
      items,
      image: { png: fakePng(40_000).toString('base64'), alt: 'a big chart', title: 'Charts: compliance' },
    };
    const { card, bytes } = await postAndRead(httpPlatform(), reply, 'images-http-big');
    expect(bytes).toBeLessThanOrEqual(TEAMS_MESSAGE_LIMIT_BYTES);
    expect(cardImages(card)).toEqual([]);
    const text = cardText(card);
    expect(text).toContain(
      'Charts: compliance: too large to show in Teams; see the chart on the Warden dashboard',
    );
    for (const item of items) expect(text).toContain(item.text);
    expect(text).toContain('x'.repeat(3000));
  });

  it('sends the text alone when the image is not a PNG', async () => {
    const { card } = await postAndRead(
      httpPlatform(),
      { visibility: 'public', text: 'no chart', image: { png: 'PGh0bWw+', alt: 'x', title: 'x' } },
      'images-http-notpng',
    );
    expect(cardImages(card)).toEqual([]);
    expect(cardText(card)).toBe('no chart');
  });
});

describe('a send that failed after its chart was stored', () => {
  it("stores the picture once when it is retried, and only the retry's link works", async () => {
    const before = await imageRows();
    const reply: Reply = {
      visibility: 'public',
      text: 'sent twice',
      image: { png: fakePng(3000).toString('base64'), alt: 'chart', title: 'Chart' },
    };
    h.connector.server.failNext(`POST /v3/conversations/${h.channel}/activities`, {
      status: 400,
      body: { error: { code: 'BadArgument', message: 'refused once' } },
    });
    await expect(
      h.teams.platform.post(h.channel, reply, { idempotencyKey: 'images-retry' }),
    ).rejects.toThrow();
    const [first] = await db.current.sql<{ id: number; tokenHash: string }[]>`
      select id, token_hash as "tokenHash" from chat_images where idempotency_key = 'images-retry'`;
    expect(await imageRows()).toBe(before + 1);

    const { card } = await postAndRead(h.teams.platform, reply, 'images-retry');
    expect(await imageRows()).toBe(before + 1);
    const link = new URL(String(cardImages(card)[0]!.url));
    expect(link.pathname).toBe(`/images/${first!.id}.png`);
    expect((await h.app.request(`${link.pathname}${link.search}`)).status).toBe(200);
    const [now] = await db.current.sql<{ tokenHash: string }[]>`
      select token_hash as "tokenHash" from chat_images where id = ${first!.id}`;
    expect(now!.tokenHash).not.toBe(first!.tokenHash);
    expect(now!.tokenHash).toBe(sha256Hex(link.searchParams.get('t')!));
  });
});

describe('a card with a picture', () => {
  it('never cuts text to make room for it', () => {
    const reply: Reply = {
      visibility: 'public',
      items: Array.from({ length: 25 }, (_, i) => ({ text: `${i} ${'y'.repeat(480)}` })),
    };
    const plainCard = renderCard(reply);
    const inline = renderCard(reply, {
      image: { url: `data:image/png;base64,${fakePng(12_000).toString('base64')}`, alt: 'a', title: 'Trend' },
    });
    const linked = renderCard(reply, {
      image: { url: `${TEST_PUBLIC_URL}/images/1.png?t=abc`, alt: 'a', title: 'Trend' },
    });
    expect(cardSize(inline)).toBeLessThanOrEqual(CARD_BUDGET_BYTES);
    expect(cardText(inline)).toBe(
      `${cardText(plainCard)}\nTrend: too large to show in Teams; see the chart on the Warden dashboard (ask Warden "dashboard" for a link).`,
    );
    expect(cardImages(linked)).toHaveLength(1);
    expect(cardText(linked)).toBe(cardText(plainCard));
  });

  it('shows only https and inline PNG pictures', () => {
    for (const url of [
      'http://warden.local/images/1.png',
      'javascript:alert(1)',
      'data:text/html;base64,PGI+',
    ]) {
      const card = renderCard({ visibility: 'public', text: 'x' }, { image: { url, alt: 'a', title: 'T' } });
      expect(cardImages(card)).toEqual([]);
    }
  });
});
