import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

/**
 * Headless Chromium for page tests, driven by playwright-core against the distribution's
 * /usr/bin/chromium (CI installs it; playwright's own browser downloads are never used).
 */
export const CHROMIUM_PATH = process.env.WARDEN_CHROMIUM ?? '/usr/bin/chromium';

/** Why browser tests cannot run here, or undefined when they can. */
export function browserUnavailableReason(): string | undefined {
  if (existsSync(CHROMIUM_PATH)) return undefined;
  return `${CHROMIUM_PATH} is missing, so the browser tests are skipped; install it with apt-get install chromium (CI does)`;
}

/** True when Chromium is missing; use with `describe.skipIf(skipBrowser())`. Warns once, saying why. */
export function skipBrowser(): boolean {
  const reason = browserUnavailableReason();
  if (reason) console.warn(reason);
  return reason !== undefined;
}

export interface LaunchedBrowser {
  /** The browser, with its own profile directory (a fresh --user-data-dir); closed by `close`. */
  context: BrowserContext;
  userDataDir: string;
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/**
 * Start Chromium headless with a fresh profile (playwright passes it as --user-data-dir), offline from everything but the pages a test
 * opens (no updates, sync, QUIC or background networking).
 */
export async function launchBrowser(): Promise<LaunchedBrowser> {
  const reason = browserUnavailableReason();
  if (reason) throw new Error(reason);
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'warden-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    viewport: { width: 1100, height: 800 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    userDataDir,
    newPage: () => context.newPage(),
    async close() {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
