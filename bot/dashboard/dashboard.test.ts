import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCsv } from '../../commands/audit/report-csv.js';
import { createDashboardLink } from '../../commands/compliance/dashboard-link.js';
import { type ReportFleet, seedAlphaRollups, seedReportFleet } from '../../commands/reports/testing.js';
import { type LaunchedBrowser, launchBrowser, skipBrowser } from '../../test/browser.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { bearer, tokenFor } from '../api/testing.js';
import { createApp } from '../app.js';
import type { AppEnv } from '../http/context.js';
import { createDashboardRoutes } from './routes.js';

/**
 * The dashboard in headless Chromium: a signed link opens it, an expired or tampered link is
 * refused (and so is the session cookie once the link's time is up), and a user sees only the
 * projects they hold compliance:read on. The overview is saved as test-results/dashboard.png.
 */
const db = useTestDatabase('dashboard');
const WAIT = { timeout: 15_000 };
const XSS = '<img src=x onerror=alert(1)><script>alert(2)</script>';

let deps: TestDeps;
let fleet: ReportFleet;
let server: ReturnType<typeof serve> | undefined;
let base = '';

beforeAll(async () => {
  deps = createTestDeps(db.current.sql);
  const now = deps.clock.now();
  fleet = await seedReportFleet(db.current.sql, now);
  await seedAlphaRollups(db.current.sql, fleet.alpha.id, now);
  const sql = db.current.sql;
  await sql`update projects set name = ${`Alpha ${XSS}`} where id = ${fleet.alpha.id}`;
  // A drifted baseline check, and an approval with its chat thread and ticket.
  await sql`
    insert into baseline_state (server_id, check_id, title, level, status, since, last_result, last_evidence,
                                last_checked_at, last_run_id)
    values (${fleet.servers.alphaLate}, 'ssh.root-login', 'SSH root login is off', 1, 'fail', ${now}, 'fail',
            'permitrootlogin yes', ${now}, 1)`;
  const [approval] = await sql<{ id: number }[]>`
    insert into approval_requests (subject_type, subject_id, project_id, requester_id, permission, title, expires_at, created_at)
    values ('patch-plan', '7', ${fleet.alpha.id}, ${fleet.admin.user.id}, 'patch:approve', 'Patch alpha this week',
            ${new Date(now.getTime() + 86_400_000)}, ${now})
    returning id`;
  await sql`insert into message_refs (subject_type, subject_id, platform, channel, message_id)
            values ('approval', ${String(approval!.id)}, 'slack', 'C0ALPHA', '1767600000.000100')`;
  await sql`insert into ticket_links (subject_type, subject_id, system, key, url, created_at)
            values ('patch-plan', '7', 'jira', 'OPS-42', 'https://jira.example.com/browse/OPS-42', ${now})`;
  const app = createApp({
    deps,
    mounts: [{ path: '/', app: new Hono<AppEnv>().route('/', createDashboardRoutes({ deps })) }],
  });
  const port = await new Promise<number>((resolve) => {
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) =>
      resolve(info.port),
    );
  });
  base = `http://127.0.0.1:${port}`;
  deps.config.publicUrl = base;
});

afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

describe('the dashboard over HTTP', () => {
  it('answers 401 without a link or token, and says how to get one', async () => {
    for (const path of [
      '/dashboard',
      '/dashboard/p/alpha',
      '/dashboard/reports/compliance.csv',
      '/dashboard/charts/trend.png',
    ]) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(401);
      expect(await res.text()).toContain('/warden dashboard');
    }
  });

  it('opens for an API token scoped for compliance:read, and refuses one without the scope', async () => {
    const ada = (
      await db.current.sql<
        { id: number; handle: string }[]
      >`select id, handle from users where id = ${fleet.admin.user.id}`
    )[0]!;
    const user = { ...fleet.admin.user, ...ada };
    const good = await tokenFor(deps, user, ['compliance:read']);
    const res = await fetch(`${base}/dashboard`, { headers: bearer(good) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'; style-src 'nonce-/);
    const body = await res.text();
    expect(body).toContain('beta');
    expect(body).not.toContain('<script');
    const narrow = await tokenFor(deps, user, ['inventory:read'], { name: 'narrow' });
    expect((await fetch(`${base}/dashboard`, { headers: bearer(narrow) })).status).toBe(403);
  });
});

describe.skipIf(skipBrowser())('the dashboard in Chromium', () => {
  let browser: LaunchedBrowser;
  const dialogs: string[] = [];

  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });

  async function fresh(): Promise<Page> {
    await browser.context.clearCookies();
    const page = await browser.newPage();
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    return page;
  }

  it('opens from the signed link and shows everything to a global reader; the overview is saved as a picture', async () => {
    const link = await createDashboardLink(deps, fleet.admin);
    const page = await fresh();
    await page.goto(link.url);
    await page.waitForURL(`${base}/dashboard`, WAIT);
    await page.locator('h2', { hasText: 'By project' }).waitFor(WAIT);
    const projects = await page.locator('table').first().locator('tbody td:first-child').allTextContents();
    expect(projects).toEqual(['alpha', 'beta']);
    expect(await page.locator('.card .n').first().textContent()).toBe('4');
    const chart = page.locator('img.chart');
    await chart.waitFor(WAIT);
    expect(await chart.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBeGreaterThan(
      100,
    );
    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/dashboard.png', fullPage: true });
    // The cookie the link set is HttpOnly and SameSite=Strict, and limited to the dashboard.
    const [cookie] = await browser.context.cookies(`${base}/dashboard`);
    expect(cookie).toMatchObject({
      name: 'warden_dashboard',
      httpOnly: true,
      sameSite: 'Strict',
      path: '/dashboard',
    });
    await page.close();
  });

  it('shows a project reader only their project, with drill-down, threads and tickets, and hides the other', async () => {
    const link = await createDashboardLink(deps, fleet.auditor);
    const page = await fresh();
    await page.goto(link.url);
    await page.waitForURL(`${base}/dashboard`, WAIT);
    const projects = await page.locator('table').first().locator('tbody td:first-child').allTextContents();
    expect(projects).toEqual(['alpha']);
    expect(await page.content()).not.toContain('beta-stale');

    await page.click('a[href="/dashboard/p/alpha"]');
    await page.waitForURL(`${base}/dashboard/p/alpha`, WAIT);
    const body = await page.locator('main').innerText();
    expect(body).toContain(`Alpha ${XSS}`);
    expect(body).toMatch(/alpha-late\s+non-compliant/);
    expect(body).toContain('ssh.root-login: SSH root login is off');
    expect(
      await page.getAttribute('a[href^="https://slack.com/archives/C0ALPHA/p1767600000000100"]', 'target'),
    ).toBe('_blank');
    expect(await page.getAttribute('a:text("OPS-42")', 'href')).toBe(
      'https://jira.example.com/browse/OPS-42',
    );

    await page.click('a[href="/dashboard/s/alpha-late"]');
    await page.waitForURL(`${base}/dashboard/s/alpha-late`, WAIT);
    expect(await page.locator('main').innerText()).toContain(
      '1 security update pending past the 7-day standard',
    );

    const hidden = await page.goto(`${base}/dashboard/p/beta`);
    expect(hidden?.status()).toBe(404);
    expect((await page.goto(`${base}/dashboard/s/beta-stale`))?.status()).toBe(404);

    // The reports the page links to are built for the same reader.
    const csv = await page.request.get(`${base}/dashboard/reports/compliance.csv`);
    expect(csv.headers()['content-disposition']).toMatch(/attachment; filename="warden-compliance-alpha-/);
    const rows = parseCsv(await csv.text());
    expect(
      rows
        .slice(1)
        .map((r) => r[0])
        .sort(),
    ).toEqual(['alpha-late', 'alpha-new', 'alpha-ok']);
    expect((await page.request.get(`${base}/dashboard/reports/compliance.pdf?project=beta`)).status()).toBe(
      403,
    );
    expect(dialogs).toEqual([]);
    await page.close();
  });

  it('refuses an expired link, and the session it opened once the link’s time is up', async () => {
    const stale = await createDashboardLink(deps, fleet.admin);
    deps.clock.advance(16 * 60_000);
    const page = await fresh();
    const refused = await page.goto(stale.url);
    expect(refused?.status()).toBe(401);
    expect(await page.locator('main').innerText()).toContain('has expired');

    const link = await createDashboardLink(deps, fleet.admin);
    await page.goto(link.url);
    await page.waitForURL(`${base}/dashboard`, WAIT);
    deps.clock.advance(15 * 60_000 + 1000);
    const replay = await page.goto(`${base}/dashboard`);
    expect(replay?.status()).toBe(401);
    await page.close();
  });

  it('refuses a tampered link: another user id, another scope, or a changed signature', async () => {
    const link = await createDashboardLink(deps, fleet.auditor);
    const token = new URL(link.url).searchParams.get('t')!;
    const [v, , exp, scope, mac] = token.split('.');
    const forged = [
      [v, fleet.admin.user.id, exp, scope, mac].join('.'),
      [v, fleet.auditor.user.id, exp, 'p-beta', mac].join('.'),
      [v, fleet.auditor.user.id, Number(exp) + 3600, scope, mac].join('.'),
      `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`,
    ];
    const page = await fresh();
    for (const t of forged) {
      const res = await page.goto(`${base}/dashboard/auth?t=${encodeURIComponent(t)}`);
      expect(res?.status(), t).toBe(401);
      expect(await page.locator('main').innerText()).toContain('not valid');
    }
    expect(await browser.context.cookies(`${base}/dashboard`)).toEqual([]);
    await page.close();
  });
});
