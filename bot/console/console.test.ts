import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LaunchedBrowser, launchBrowser, skipBrowser } from '../../test/browser.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps } from '../../test/deps.js';
import { createApp } from '../app.js';
import { createConsoleRoutes } from './routes.js';
import { consoleTestRegistry, seedConsoleWorld, XSS_HEADER } from './testing.js';

const db = useTestDatabase('console_browser');
const WAIT = { timeout: 15_000 };

describe.skipIf(skipBrowser())('the console in Chromium', () => {
  let server: ReturnType<typeof serve> | undefined;
  let browser: LaunchedBrowser | undefined;
  let base = '';
  const dialogs: string[] = [];

  beforeAll(async () => {
    await seedConsoleWorld(db.current.sql);
    const deps = createTestDeps(db.current.sql);
    const app = createApp({
      deps,
      mounts: [{ path: '/', app: createConsoleRoutes({ deps, registry: consoleTestRegistry() }) }],
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

  async function openAs(handle: string, channel = 'demo'): Promise<Page> {
    const page = await browser!.newPage();
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(base);
    await page.locator(`#user option[value="${handle}"]`).waitFor({ state: 'attached', ...WAIT });
    await page.selectOption('#user', handle);
    await page.selectOption('#channel', channel);
    await page.waitForSelector('body[data-ready="true"]', WAIT);
    return page;
  }

  async function type(page: Page, text: string): Promise<void> {
    await page.fill('#text', text);
    await page.press('#text', 'Enter');
  }

  it('shows alice the help reply to /warden help, marked as only visible to her', async () => {
    const page = await openAs('alice');
    await type(page, '/warden help');
    const reply = page.locator('.msg', { hasText: 'Warden commands' });
    await reply.waitFor(WAIT);
    expect(await reply.locator('.only-you').textContent()).toBe('Only visible to you');
    expect(await reply.locator('.items').textContent()).toContain('/warden whoami');
    await page.close();
  });

  it('shows a private error that quotes the bad word of a mistyped command', async () => {
    const page = await openAs('alice');
    await type(page, '/warden whoami --loud');
    const error = page.locator('.msg .reply.tone-error');
    await error.waitFor(WAIT);
    expect(await error.textContent()).toContain('Unknown flag "--loud"');
    expect(await error.textContent()).toContain('Usage: /warden whoami');
    await page.close();
  });

  it('replaces a message in place when its button is clicked, and the other user sees it live', async () => {
    const alice = await openAs('alice');
    const bob = await openAs('bob');
    await type(alice, '/warden test button');
    // bob never reloads: the public message reaches him by polling
    const onBob = bob.locator('.msg', { hasText: 'Pending test' });
    await onBob.waitFor(WAIT);
    await onBob.getByRole('button', { name: 'Replace me' }).click();
    await bob.locator('.msg', { hasText: 'Replaced by @bob (value 42).' }).waitFor(WAIT);
    const onAlice = alice.locator('.msg', { hasText: 'Replaced by @bob (value 42).' });
    await onAlice.waitFor(WAIT);
    expect(await alice.locator('.msg', { hasText: 'Pending test' }).count()).toBe(0);
    mkdirSync('test-results', { recursive: true });
    await alice.screenshot({ path: 'test-results/console.png', fullPage: true });
    await Promise.all([alice.close(), bob.close()]);
  });

  it('renders a form, submits it, and shows the answer', async () => {
    const page = await openAs('alice');
    await type(page, '/warden test form');
    const form = page.locator('form.wform');
    await form.waitFor(WAIT);
    await form.locator('input[name="name"]').fill('web-01');
    await form.getByRole('button', { name: 'Send it' }).click();
    await page.locator('.msg', { hasText: 'Got web-01 with state opaque-state.' }).waitFor(WAIT);
    await page.locator('.msg', { hasText: 'Sent: Name a server.' }).waitFor(WAIT);
    expect(await page.locator('form.wform').count()).toBe(0);
    await page.close();
  });

  it('shows HTML in replies as text and never runs it', async () => {
    const page = await openAs('alice');
    await type(page, '/warden test xss');
    const header = page.locator('.reply .header', { hasText: XSS_HEADER });
    await header.waitFor(WAIT);
    expect(await header.textContent()).toBe(XSS_HEADER);
    const reply = page.locator('.msg', { has: header });
    expect(await reply.locator('img, script, b, i, u').count()).toBe(0);
    expect(await reply.locator('.text').textContent()).toBe('<script>window.__xss = 1</script><b>bold?</b>');
    expect(await reply.locator('.buttons a').getAttribute('href')).toBeNull();
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(dialogs).toEqual([]);
    await page.close();
  });
});
