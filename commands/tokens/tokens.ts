import { z } from 'zod';
import { randomToken, sha256Hex } from '../../lib/crypto.js';
import { AppError } from '../../lib/errors.js';
import { withTx } from '../../storage/db.js';
import { getProjectBySlug } from '../../storage/inventory.js';
import {
  getTokenByHash,
  getTokenById,
  insertToken,
  listTokens as listTokenRows,
  revokeToken as revokeTokenRow,
  type TokenRow,
  touchToken,
} from '../../storage/tokens.js';
import { getUser, getUserByHandle } from '../../storage/users.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { parseInput } from '../inventory/projects.js';
import { ProjectSlug, UserHandle } from '../inventory/schema.js';
import { actorFacts, actorRef, type CallMeta, holdsAnywhere } from '../inventory/scope.js';
import { type Actor, authorize, can, loadActor } from '../rbac/authorize.js';
import { GLOBAL_ONLY, isPermission, type Permission } from '../rbac/roles.js';

/**
 * API tokens: `wdn_` and 43 random base64url characters (256 bits). Only the SHA-256 is stored;
 * the token is shown once, when created. A token acts as its user, narrowed to its scopes and,
 * optionally, to one project.
 */
export const TOKEN_PREFIX = 'wdn_';
export const TOKEN_PATTERN = /^wdn_[A-Za-z0-9_-]{43}$/;
/** How much of the token is kept to tell tokens apart in lists (`wdn_` + 8 characters). */
const DISPLAY_LENGTH = 12;
/** last_used_at is written at most this often per token. */
const TOUCH_EVERY_MS = 60_000;
export const DEFAULT_TOKEN_LIFETIME = '90d';
const MAX_LIFETIME_MS = 366 * 24 * 3600_000;

export interface TokenInfo {
  id: number;
  name: string;
  /** The first characters of the token, to recognise it. */
  prefix: string;
  owner: string;
  scopes: string[];
  project: string | null;
  status: 'active' | 'expired' | 'revoked';
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  createdAt: Date;
}

export const CreateTokenInput = z
  .object({
    name: z
      .string()
      .min(1, 'a token needs a name')
      .max(100, 'a token name is at most 100 characters')
      .regex(/^[^\p{Cc}]*$/u, 'a token name may not contain control characters'),
    scopes: z.array(z.string().max(100)).min(1, 'a token needs at least one scope').max(50),
    projectSlug: ProjectSlug.optional().describe('limit the token to this project'),
    expiresIn: z
      .string()
      .regex(/^(\d{1,4}[mhd]|never)$/, 'expiresIn is a duration like 30d, 12h or 90m, or "never"')
      .optional()
      .describe(`how long the token lives (default ${DEFAULT_TOKEN_LIFETIME})`),
    user: UserHandle.optional().describe('create the token for this user (needs tokens:manage)'),
  })
  .strict();
export type CreateTokenInput = z.infer<typeof CreateTokenInput>;

function lifetimeMs(expiresIn: string): number | null {
  if (expiresIn === 'never') return null;
  const n = Number(expiresIn.slice(0, -1));
  const unit = { m: 60_000, h: 3600_000, d: 86_400_000 }[expiresIn.slice(-1) as 'm' | 'h' | 'd'];
  const ms = n * unit;
  if (ms <= 0 || ms > MAX_LIFETIME_MS) {
    throw new AppError('bad_request', 'expiresIn must be between 1 minute and 366 days, or "never"', {
      details: { issues: [{ path: 'expiresIn', message: 'out of range' }] },
    });
  }
  return ms;
}

function statusOf(row: TokenRow, now: Date): TokenInfo['status'] {
  if (row.revokedAt) return 'revoked';
  if (row.expiresAt && row.expiresAt.getTime() <= now.getTime()) return 'expired';
  return 'active';
}

export function tokenInfo(row: TokenRow, now: Date): TokenInfo {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    owner: row.userHandle,
    scopes: row.scopes,
    project: row.projectSlug,
    status: statusOf(row, now),
    expiresAt: row.expiresAt,
    lastUsedAt: row.lastUsedAt,
    revokedAt: row.revokedAt,
    createdAt: row.createdAt,
  };
}

/**
 * Create a token and return it in plaintext, once. The creator may only hand out permissions
 * they hold themselves (on the token's project, if it has one); creating one for someone else,
 * or from a token, needs tokens:manage.
 */
export async function createToken(
  deps: Deps,
  actor: Actor,
  input: unknown,
  meta: CallMeta = {},
): Promise<{ token: string; info: TokenInfo }> {
  const parsed = parseInput(CreateTokenInput, input, 'token request');
  const unknown = parsed.scopes.filter((s) => !isPermission(s));
  if (unknown.length > 0) {
    throw new AppError('bad_request', `unknown scopes: ${unknown.join(', ')}; scopes are permission names`, {
      details: { issues: unknown.map((s) => ({ path: 'scopes', message: `unknown scope "${s}"` })) },
    });
  }
  const scopes = [...new Set(parsed.scopes)] as Permission[];
  const forSelf = parsed.user === undefined || parsed.user === actor.user.handle;
  if (!forSelf || actor.tokenScopes) authorize(actor, 'tokens:manage', null);
  const lifetime = lifetimeMs(parsed.expiresIn ?? DEFAULT_TOKEN_LIFETIME);

  return withTx(deps.sql, async (tx) => {
    const owner = forSelf ? actor.user : await getUserByHandle(tx, parsed.user!);
    if (!owner) throw new AppError('not_found', `there is no user "${parsed.user}"`);
    if (owner.disabled) throw new AppError('bad_request', `user "${owner.handle}" is disabled`);
    let project: { id: number; slug: string } | null = null;
    if (parsed.projectSlug !== undefined) {
      project = (await getProjectBySlug(tx, parsed.projectSlug)) ?? null;
      if (!project) throw new AppError('not_found', `there is no project "${parsed.projectSlug}"`);
      const globalOnly = scopes.filter((s) => GLOBAL_ONLY.includes(s));
      if (globalOnly.length > 0) {
        throw new AppError(
          'bad_request',
          `${globalOnly.join(', ')} only work globally; leave out projectSlug or drop those scopes`,
        );
      }
    }
    // A project-limited token may only make tokens for that same project.
    if (actor.tokenProjectId != null && project?.id !== actor.tokenProjectId) {
      throw new AppError(
        'forbidden',
        'this API token is limited to one project; new tokens must be limited to it too',
      );
    }
    for (const scope of scopes) {
      const held = project ? can(actor, scope, project) : holdsAnywhere(actor, scope);
      if (!held) {
        throw new AppError(
          'forbidden',
          `you cannot give a token ${scope}: you do not hold it${project ? ` on project ${project.slug}` : ''} yourself`,
          { details: { permission: scope, project: project?.slug ?? null } },
        );
      }
    }
    const now = deps.clock.now();
    const token = TOKEN_PREFIX + randomToken(32);
    const id = await insertToken(tx, {
      userId: owner.id,
      name: parsed.name,
      tokenHash: sha256Hex(token),
      prefix: token.slice(0, DISPLAY_LENGTH),
      scopes,
      projectId: project?.id ?? null,
      expiresAt: lifetime === null ? null : new Date(now.getTime() + lifetime),
      createdAt: now,
    });
    const row = (await getTokenById(tx, id))!;
    await recordEvent(tx, deps, {
      actor: actorRef(actor),
      action: 'token.created',
      subject: { type: 'api_token', id: String(id) },
      projectId: row.projectId,
      data: {
        ...actorFacts(actor),
        owner: row.userHandle,
        name: row.name,
        prefix: row.prefix,
        scopes: row.scopes,
        project: row.projectSlug,
        expiresAt: row.expiresAt?.toISOString() ?? null,
      },
      requestId: meta.requestId,
    });
    return { token, info: tokenInfo(row, now) };
  });
}

/** The actor's own tokens; someone else's, or everyone's (`all`), need tokens:manage. */
export async function listTokens(
  deps: Deps,
  actor: Actor,
  input: { user?: string; all?: boolean } = {},
): Promise<TokenInfo[]> {
  let userId: number | null = actor.user.id;
  if (input.all) {
    authorize(actor, 'tokens:manage', null);
    userId = null;
  } else if (input.user !== undefined && input.user !== actor.user.handle) {
    authorize(actor, 'tokens:manage', null);
    const user = await getUserByHandle(deps.sql, input.user);
    if (!user) throw new AppError('not_found', `there is no user "${input.user}"`);
    userId = user.id;
  }
  const now = deps.clock.now();
  return (await listTokenRows(deps.sql, { userId })).map((r) => tokenInfo(r, now));
}

/** Revoke one of the actor's tokens (anyone's with tokens:manage). */
export async function revokeToken(
  deps: Deps,
  actor: Actor,
  input: { id: number },
  meta: CallMeta = {},
): Promise<TokenInfo> {
  return withTx(deps.sql, async (tx) => {
    const row = await getTokenById(tx, input.id);
    const mine = row?.userId === actor.user.id;
    if (!row || !mine) {
      // Someone who may not manage tokens learns nothing about others' token ids.
      if (!mine && !can(actor, 'tokens:manage', null)) {
        throw new AppError('not_found', `you have no token ${input.id}; list yours with GET /api/v1/tokens`);
      }
      if (!row) throw new AppError('not_found', `there is no token ${input.id}`);
    }
    if (row.revokedAt) {
      throw new AppError('already_decided', `token ${row.id} (${row.name}) was already revoked`);
    }
    const now = deps.clock.now();
    await revokeTokenRow(tx, row.id, now);
    await recordEvent(tx, deps, {
      actor: actorRef(actor),
      action: 'token.revoked',
      subject: { type: 'api_token', id: String(row.id) },
      projectId: row.projectId,
      data: { ...actorFacts(actor), owner: row.userHandle, name: row.name, prefix: row.prefix },
      requestId: meta.requestId,
    });
    return tokenInfo({ ...row, revokedAt: now }, now);
  });
}

function refused(reason: string, message: string): AppError {
  return new AppError('unauthenticated', message, { details: { reason, tokenPresented: true } });
}

/**
 * The actor behind a bearer token, or `unauthenticated` saying why not (unknown, revoked,
 * expired, or its user disabled). The token is compared by its hash, through the index.
 */
export async function authenticateToken(deps: Deps, token: string): Promise<Actor> {
  if (!TOKEN_PATTERN.test(token)) {
    throw refused(
      'malformed',
      'that is not a Warden API token (they start with wdn_); check the Authorization header',
    );
  }
  const row = await getTokenByHash(deps.sql, sha256Hex(token));
  if (!row) throw refused('unknown', 'this API token is not recognised; create a new one and try again');
  if (row.revokedAt) throw refused('revoked', `API token ${row.prefix}… was revoked; create a new one`);
  const now = deps.clock.now();
  if (row.expiresAt && row.expiresAt.getTime() <= now.getTime()) {
    throw refused(
      'expired',
      `API token ${row.prefix}… expired at ${row.expiresAt.toISOString()}; create a new one`,
    );
  }
  const user = await getUser(deps.sql, row.userId);
  if (!user || user.disabled) throw refused('disabled', 'the user this API token belongs to is disabled');
  await touchToken(deps.sql, row.id, now, new Date(now.getTime() - TOUCH_EVERY_MS));
  const actor = await loadActor(deps.sql, user, 'api');
  return {
    ...actor,
    tokenScopes: row.scopes.filter(isPermission),
    tokenProjectId: row.projectId,
    tokenId: row.id,
  };
}
