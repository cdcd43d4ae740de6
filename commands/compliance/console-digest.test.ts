import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../bot/app.js';
import { createChatDeliverer } from '../../bot/chat/deliver.js';
import { createConsolePlatform } from '../../bot/console/platform.js';
import { createConsoleRoutes } from '../../bot/console/routes.js';
import { createOutboxWorker } from '../../jobs/outbox-worker.js';
import { silentLogger } from '../../lib/logger.js';
import { insertConsoleMessage } from '../../storage/console.js';
import { addIdentity } from '../../storage/users.js';
import { type LaunchedBrowser, launchBrowser, skipBrowser } from '../../test/browser.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps } from '../../test/deps.js';
import { createRegistry } from '../index.js';
import { sendDueDigests } from './digest.js';
import { buildFleet } from './testing.js';

const db = useTestDatabase('compliance_console');
const WAIT = { timeout: 15_000 };

describe.skipIf(skipBrowser())('the digest in the console, in Chromium', () => {
  let server: ReturnType<typeof serve> | undefined;
  let browser: LaunchedBrowser | undefined;
  let base = '';

  beforeAll(async () => {
    const sql = db.current.sql;
    const deps = createTestDeps(sql);
    await buildFleet(deps);
    const [admin] = await sql<{ id: number }[]>`select id from users where handle = 'admin'`;
    await addIdentity(sql, { userId: admin!.id, platform: 'console', externalId: 'admin' });
    await sendDueDigests(deps);
    // A reply whose "PNG" tries to break out of the data: URL must not become an image.
    await insertConsoleMessage(sql, {
      channel: 'prod',
      author: 'warden',
      body: {
        visibility: 'public',
        text: 'hostile',
        image: { png: '"><img src=x onerror=alert(1)>', alt: 'x', title: 'x' },
      },
      createdAt: deps.clock.now(),
    });
    const platform = createConsolePlatform(sql, deps.clock);
    const worker = createOutboxWorker({
      sql,
      clock: deps.clock,
      log: silentLogger(),
      deliverers: { console: createChatDeliverer({ sql, platform, clock: deps.clock }) },
    });
    await worker.drainOnce();
    const app = createApp({
      deps,
      mounts: [{ path: '/', app: createConsoleRoutes({ deps, registry: createRegistry() }) }],
    });
    const port = await new Promise<number>((resolve) => {
      server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) =>
        resolve(info.port),
      );
    });
    base = `http://127.0.0.1:${port}/`;
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  it('shows the digest and its chart as an image, and no image made of hostile text', async () => {
    const page = await browser!.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.setViewportSize({ width: 1100, height: 1400 });
    await page.goto(base);
    await page.locator('#user option[value="admin"]').waitFor({ state: 'attached', ...WAIT });
    await page.selectOption('#user', 'admin');
    await page.selectOption('#channel', 'prod');
    await page.waitForSelector('body[data-ready="true"]', WAIT);
    const digest = page.locator('.msg', { hasText: 'Compliance digest: Production (2026-03-10)' });
    await digest.waitFor(WAIT);
    expect(await digest.textContent()).toContain('30% compliant: 3 of 10 servers');
    const img = page.locator('figure.image img');
    await img.waitFor(WAIT);
    expect(await img.count()).toBe(1);
    const size = await img.evaluate((el) => {
      const i = el as HTMLImageElement;
      return { w: i.naturalWidth, h: i.naturalHeight, alt: i.alt };
    });
    expect(size).toMatchObject({ w: 900, h: 420, alt: expect.stringMatching(/^Compliance of Production/) });
    expect(await page.locator('.msg', { hasText: 'hostile' }).locator('img').count()).toBe(0);
    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/digest-console.png', fullPage: true });
    expect(dialogs).toEqual([]);
    await page.close();
  });
});
