import { randomBytes } from 'node:crypto';
import { type Context, Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import { verifyDashboardToken } from '../../commands/compliance/dashboard-link.js';
import type { Deps } from '../../commands/deps.js';
import { loadActor } from '../../commands/rbac/authorize.js';
import {
  dashboardOverview,
  dashboardProject,
  dashboardServer,
  dashboardTrendPng,
  type Viewer,
} from '../../commands/reports/dashboard.js';
import { buildReport, isReportKind, renderReport } from '../../commands/reports/index.js';
import { AppError, isAppError } from '../../lib/errors.js';
import { authenticateRequest, requirePermission } from '../api/auth.js';
import type { AppEnv } from '../http/context.js';
import { createErrorHandler } from '../http/errors.js';
import { messagePage, overviewPage, type PageContext, projectPage, serverPage } from './pages.js';

/**
 * The compliance dashboard, mounted at '/': GET /dashboard (overview), /dashboard/p/<project>,
 * /dashboard/s/<server>, /dashboard/charts/trend.png, /dashboard/reports/<kind>.<csv|pdf>.
 *
 * No page is public. A person comes in through the short-lived signed link `/warden dashboard`
 * sends privately (GET /dashboard/auth?t=…): the token is checked and put in a session cookie
 * (HttpOnly, SameSite=Strict, Secure when the public URL is https, Path=/dashboard, expiring with
 * the token), and every later request checks that token again (signature, expiry, the user still
 * enabled, their roles now), so an expired link or cookie is refused even if replayed. Scripts use
 * an API token instead (Authorization: Bearer wdn_…, scoped for compliance:read).
 */
export const DASHBOARD_COOKIE = 'warden_dashboard';

/** The app's context plus the CSP nonce of the response being built. */
export interface DashboardEnv {
  Variables: AppEnv['Variables'] & { nonce: string };
}

const Segment = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/);
const ReportQuery = z
  .object({
    project: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/)
      .optional(),
  })
  .strict();

const STATUS: Partial<Record<AppError['code'], 400 | 401 | 403 | 404>> = {
  bad_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
};

interface Resolved {
  viewer: Viewer;
  /** How the viewer came in: a link's cookie (may sign out) or an API token. */
  via: 'link' | 'token';
}

function securityHeaders(c: Context<DashboardEnv>, nonce: string): void {
  c.header(
    'Content-Security-Policy',
    `default-src 'none'; style-src 'nonce-${nonce}'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
  );
  c.header('X-Content-Type-Options', 'nosniff');
  c.header('Referrer-Policy', 'no-referrer');
  c.header('Cache-Control', 'no-store');
  c.header('X-Frame-Options', 'DENY');
}

async function resolveViewer(c: Context<DashboardEnv>, deps: Deps): Promise<Resolved> {
  if (c.req.header('authorization')) {
    // The API's bearer check reads only the header and sets the actor and logger, which this context has too.
    const actor = await authenticateRequest(c as unknown as Context<AppEnv>, deps);
    requirePermission(actor, 'compliance:read');
    return { viewer: { actor, scope: { kind: 'all' } }, via: 'token' };
  }
  const token = getCookie(c, DASHBOARD_COOKIE);
  if (!token) {
    throw new AppError(
      'unauthenticated',
      'The dashboard opens only from a private link: type /warden dashboard in chat to get one (it works for 15 minutes).',
    );
  }
  const verified = await verifyDashboardToken(deps, token);
  const actor = await loadActor(deps.sql, verified.user, 'api');
  c.set('actor', actor);
  return { viewer: { actor, scope: verified.scope }, via: 'link' };
}

function page(resolved: Resolved, nonce: string): PageContext {
  const user = resolved.viewer.actor.user;
  const scope =
    resolved.viewer.scope.kind === 'project' ? ` · project ${resolved.viewer.scope.slug} only` : '';
  return { nonce, viewer: `${user.displayName} (@${user.handle})${scope}`, logout: resolved.via === 'link' };
}

function secureCookie(deps: Deps): boolean {
  return deps.config.publicUrl.startsWith('https://');
}

/**
 * @example
 * createApp({ deps, mounts: [{ path: '/', app: createDashboardRoutes({ deps }) }] });
 */
export function createDashboardRoutes(options: { deps: Deps }): Hono<DashboardEnv> {
  const { deps } = options;
  const app = new Hono<DashboardEnv>();

  // Each request gets its own nonce and the security headers.
  const guarded = async (c: Context<DashboardEnv>, next: () => Promise<void>): Promise<void> => {
    const nonce = randomBytes(16).toString('base64');
    c.set('nonce', nonce);
    securityHeaders(c, nonce);
    await next();
  };
  app.use('/dashboard', guarded);
  app.use('/dashboard/*', guarded);
  // Refusals become a page a person can read (a 401 says how to get a link); anything else is the
  // app's standard error answer (logged, with the request id).
  const fallback = createErrorHandler(deps.log);
  app.onError((error, c) => {
    const status = isAppError(error) ? STATUS[error.code] : undefined;
    if (!status) return fallback(error, c as unknown as Context<AppEnv>);
    const nonce = c.get('nonce') ?? randomBytes(16).toString('base64');
    securityHeaders(c, nonce);
    if (status === 401) deleteCookie(c, DASHBOARD_COOKIE, { path: '/dashboard' });
    const title =
      status === 401
        ? 'Sign-in needed'
        : status === 403
          ? 'Not allowed'
          : status === 404
            ? 'Not found'
            : 'Bad request';
    return c.html(messagePage(nonce, title, error.message), status);
  });
  const nonceOf = (c: Context<DashboardEnv>) => c.get('nonce');

  app.get('/dashboard/auth', async (c) => {
    const token = c.req.query('t') ?? '';
    const verified = await verifyDashboardToken(deps, token);
    const maxAge = Math.max(
      1,
      Math.floor((verified.expiresAt.getTime() - deps.clock.now().getTime()) / 1000),
    );
    setCookie(c, DASHBOARD_COOKIE, token, {
      path: '/dashboard',
      httpOnly: true,
      sameSite: 'Strict',
      secure: secureCookie(deps),
      maxAge,
    });
    const target = verified.scope.kind === 'project' ? `/dashboard/p/${verified.scope.slug}` : '/dashboard';
    // A page rather than a redirect: a SameSite=Strict cookie is not sent on a redirect that
    // started in another site (the chat), but is on this same-site refresh.
    const body = messagePage(nonceOf(c), 'Signed in', 'Opening the dashboard…').replace(
      '<meta name="referrer" content="no-referrer">',
      `<meta name="referrer" content="no-referrer"><meta http-equiv="refresh" content="0;url=${target}">`,
    );
    return c.html(
      body.replace('Opening the dashboard…', `Opening the dashboard… <a href="${target}">continue</a>`),
    );
  });

  app.post('/dashboard/logout', (c) => {
    deleteCookie(c, DASHBOARD_COOKIE, { path: '/dashboard' });
    return c.html(
      messagePage(
        nonceOf(c),
        'Signed out',
        'You are signed out. Ask Warden for a new link with /warden dashboard.',
      ),
    );
  });

  app.get('/dashboard', async (c) => {
    const resolved = await resolveViewer(c, deps);
    const view = await dashboardOverview(deps, resolved.viewer);
    return c.html(overviewPage(page(resolved, nonceOf(c)), view, deps.clock.now()));
  });

  app.get('/dashboard/p/:slug', async (c) => {
    const resolved = await resolveViewer(c, deps);
    const slug = Segment.safeParse(c.req.param('slug'));
    if (!slug.success) throw new AppError('not_found', 'there is no such project on your dashboard');
    const view = await dashboardProject(deps, resolved.viewer, slug.data);
    return c.html(projectPage(page(resolved, nonceOf(c)), view, deps.clock.now(), deps.config.publicUrl));
  });

  app.get('/dashboard/s/:name', async (c) => {
    const resolved = await resolveViewer(c, deps);
    const name = Segment.safeParse(c.req.param('name'));
    if (!name.success) throw new AppError('not_found', 'there is no such server on your dashboard');
    const view = await dashboardServer(deps, resolved.viewer, name.data);
    return c.html(serverPage(page(resolved, nonceOf(c)), view, deps.clock.now()));
  });

  app.get('/dashboard/charts/trend.png', async (c) => {
    const resolved = await resolveViewer(c, deps);
    const project = c.req.query('project');
    if (project !== undefined && !Segment.safeParse(project).success)
      throw new AppError('not_found', 'no such chart');
    const png = await dashboardTrendPng(deps, resolved.viewer, project);
    if (!png) throw new AppError('not_found', 'there is no trend to draw yet');
    return c.body(new Uint8Array(png), 200, { 'content-type': 'image/png' });
  });

  app.get('/dashboard/reports/:file', async (c) => {
    const resolved = await resolveViewer(c, deps);
    const m = /^([a-z]+)\.(csv|pdf)$/.exec(c.req.param('file'));
    if (!m || !isReportKind(m[1]!)) {
      throw new AppError('not_found', 'reports are compliance, users, vendors or trends, as .csv or .pdf');
    }
    const query = ReportQuery.safeParse(c.req.query());
    if (!query.success) throw new AppError('bad_request', 'the only query parameter is project=<slug>');
    const scope = resolved.viewer.scope;
    if (scope.kind === 'project' && query.data.project !== undefined && query.data.project !== scope.slug) {
      throw new AppError('not_found', `your link is for project ${scope.slug} only`);
    }
    const project = scope.kind === 'project' ? scope.slug : query.data.project;
    const report = await buildReport(deps, resolved.viewer.actor, {
      kind: m[1]!,
      ...(project !== undefined ? { project } : {}),
    });
    const file = await renderReport(report, m[2] as 'csv' | 'pdf');
    return c.body(new Uint8Array(file.body), 200, {
      'content-type': file.contentType,
      'content-disposition': `attachment; filename="${file.filename}"`,
    });
  });

  return app;
}
