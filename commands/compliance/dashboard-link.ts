import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { InteractionResult } from '../../bot/chat/model.js';
import { AppError } from '../../lib/errors.js';
import { withTx } from '../../storage/db.js';
import { getProjectBySlug } from '../../storage/inventory.js';
import { getUser, type User } from '../../storage/users.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { holdsAnywhere } from '../inventory/scope.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import type { ActionSpec, CommandSpec } from '../registry.js';

/**
 * Short-lived signed links to the dashboard. A link carries `v1.<user id>.<expiry>.<scope>.<mac>`,
 * the MAC being HMAC-SHA256 over those fields with a key of its own: 32 random bytes sealed in the
 * secrets table (`dashboard-link-key`) under the master key, so every replica signs and checks with
 * the same key and nothing else is derived from the master key. The dashboard checks the MAC and
 * the expiry on every request (the link's token also rides in its session cookie), and loads the
 * user and their role bindings each time: a disabled user or a removed role takes effect at once.
 */
export const DEFAULT_LINK_LIFETIME_MS = 15 * 60_000;
export const MAX_LINK_LIFETIME_MS = 8 * 3_600_000;
const KEY_SECRET = 'dashboard-link-key';
const TOKEN = /^v1\.(\d{1,15})\.(\d{1,13})\.(all|p-[a-z0-9][a-z0-9-]{0,62})\.([A-Za-z0-9_-]{43})$/;

/** 'all' (every project the user may read), or one project by slug. */
export type DashboardScope = { kind: 'all' } | { kind: 'project'; slug: string };

export interface DashboardClaims {
  userId: number;
  expiresAt: Date;
  scope: DashboardScope;
}

export interface VerifiedDashboardToken extends DashboardClaims {
  user: User;
}

async function signingKey(deps: Deps): Promise<Buffer> {
  const read = async () =>
    (await deps.sql<{ sealed: string }[]>`select sealed from secrets where name = ${KEY_SECRET}`)[0]?.sealed;
  let sealed = await read();
  if (!sealed) {
    // Two replicas may race to create it: the unique name keeps the first, both then read it.
    await deps.sql`
      insert into secrets (name, purpose, sealed)
      values (${KEY_SECRET}, 'dashboard-link-signing', ${deps.vault.seal(randomBytes(32), KEY_SECRET)})
      on conflict (name) do nothing`;
    sealed = await read();
  }
  return deps.vault.open(sealed!, KEY_SECRET);
}

function scopeText(scope: DashboardScope): string {
  return scope.kind === 'all' ? 'all' : `p-${scope.slug}`;
}

function mac(key: Buffer, userId: number, exp: number, scope: string): string {
  return createHmac('sha256', key)
    .update(`warden-dashboard|v1|${userId}|${exp}|${scope}`)
    .digest('base64url');
}

export async function signDashboardToken(deps: Deps, claims: DashboardClaims): Promise<string> {
  const exp = Math.floor(claims.expiresAt.getTime() / 1000);
  const scope = scopeText(claims.scope);
  return `v1.${claims.userId}.${exp}.${scope}.${mac(await signingKey(deps), claims.userId, exp, scope)}`;
}

/**
 * The claims of a valid, unexpired token whose user is still enabled; throws `unauthenticated`
 * (saying what to do) otherwise. Tampering with any field breaks the MAC.
 */
export async function verifyDashboardToken(deps: Deps, token: string): Promise<VerifiedDashboardToken> {
  const m = TOKEN.exec(token);
  if (!m)
    throw new AppError(
      'unauthenticated',
      'this dashboard link is not valid; ask Warden for a new one with /warden dashboard',
    );
  const [, id, expText, scopeRaw, given] = m as unknown as [string, string, string, string, string];
  const userId = Number(id);
  const exp = Number(expText);
  const expected = Buffer.from(mac(await signingKey(deps), userId, exp, scopeRaw));
  const actual = Buffer.from(given);
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    throw new AppError(
      'unauthenticated',
      'this dashboard link is not valid; ask Warden for a new one with /warden dashboard',
    );
  }
  if (exp * 1000 <= deps.clock.now().getTime()) {
    throw new AppError(
      'unauthenticated',
      'this dashboard link has expired; ask Warden for a new one with /warden dashboard',
      {
        details: { reason: 'expired' },
      },
    );
  }
  const user = await getUser(deps.sql, userId);
  if (!user || user.disabled)
    throw new AppError('unauthenticated', 'the user this dashboard link was made for is disabled');
  const scope: DashboardScope =
    scopeRaw === 'all' ? { kind: 'all' } : { kind: 'project', slug: scopeRaw.slice(2) };
  return { userId, expiresAt: new Date(exp * 1000), scope, user };
}

export interface DashboardLink {
  url: string;
  expiresAt: Date;
  scope: DashboardScope;
}

/** A link for the actor (who must hold compliance:read there), recorded on the trail. */
export async function createDashboardLink(
  deps: Deps,
  actor: Actor,
  input: { project?: string; lifetimeMs?: number } = {},
): Promise<DashboardLink> {
  let scope: DashboardScope = { kind: 'all' };
  let projectId: number | null = null;
  if (input.project !== undefined) {
    const project = await getProjectBySlug(deps.sql, input.project);
    if (!project)
      throw new AppError(
        'not_found',
        `there is no project called ${input.project}; type \`projects\` to list them`,
      );
    authorize(actor, 'compliance:read', project);
    scope = { kind: 'project', slug: project.slug };
    projectId = project.id;
  } else if (!holdsAnywhere(actor, 'compliance:read')) {
    authorize(actor, 'compliance:read', null);
  }
  const lifetime = Math.min(
    Math.max(input.lifetimeMs ?? DEFAULT_LINK_LIFETIME_MS, 60_000),
    MAX_LINK_LIFETIME_MS,
  );
  // Whole seconds, as the token carries them.
  const expiresAt = new Date(Math.floor((deps.clock.now().getTime() + lifetime) / 1000) * 1000);
  const token = await signDashboardToken(deps, { userId: actor.user.id, expiresAt, scope });
  await withTx(deps.sql, (tx) =>
    recordEvent(tx, deps, {
      actor: `user:${actor.user.handle}`,
      action: 'dashboard.link-issued',
      projectId,
      data: { scope: scopeText(scope), expiresAt: expiresAt.toISOString(), via: actor.via },
    }),
  );
  return { url: `${deps.config.publicUrl}/dashboard/auth?t=${encodeURIComponent(token)}`, expiresAt, scope };
}

export const dashboardCommand: CommandSpec = {
  path: ['dashboard'],
  usage: 'dashboard [project]',
  summary: 'A private link to the compliance dashboard, valid for 15 minutes',
  permission: 'compliance:read',
  maxPositional: 1,
  async run(args, ctx): Promise<InteractionResult> {
    const link = await createDashboardLink(ctx.deps, ctx.actor, {
      ...(args.positional[0] !== undefined ? { project: args.positional[0] } : {}),
    });
    const minutes = Math.round((link.expiresAt.getTime() - ctx.deps.clock.now().getTime()) / 60_000);
    return {
      reply: {
        visibility: 'private',
        tone: 'info',
        header:
          link.scope.kind === 'project' ? `Dashboard: project ${link.scope.slug}` : 'Compliance dashboard',
        text: `Your private link opens the dashboard for the projects you may read. It works for ${minutes} minutes; do not share it.`,
        buttons: [
          {
            label: 'Open the dashboard',
            actionId: 'dashboard.open',
            value: 'open',
            url: link.url,
            style: 'primary',
          },
        ],
        context: [`Expires ${link.expiresAt.toISOString().slice(0, 16).replace('T', ' ')} UTC.`],
      },
    };
  },
};

/** Slack reports clicks on link buttons too; opening the link needs nothing from Warden. */
export const dashboardOpenAction: ActionSpec = {
  prefix: 'dashboard.open',
  run: async () => ({}),
};
