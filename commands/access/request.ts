import { linkTicket } from '../../integrations/tickets/subjects.js';
import { AppError } from '../../lib/errors.js';
import {
  type AccessRequest,
  type Grant,
  getGrant,
  insertAccessRequest,
  type NewAccessRequest,
  setAccessRequestApproval,
} from '../../storage/access.js';
import { withTx } from '../../storage/db.js';
import { listGrantServers } from '../../storage/grant-servers.js';
import {
  getProjectById,
  getProjectBySlug,
  getServerByName,
  listServers,
  type Project,
} from '../../storage/inventory.js';
import { type OpenedApproval, openApproval } from '../approvals/engine.js';
import { formatUtc } from '../approvals/render.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { formatDuration, quoteForMessage } from '../grammar.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import { openBreakGlass } from './break-glass.js';
import { assertKeyNotRevoked } from './grant.js';
import { requestFields, threadText } from './notify.js';
import { accessPolicy, durationCap } from './policy.js';
import { checkDuration, checkLogin, checkReason, checkStart, checkTicketFor, pickKey } from './validate.js';

/**
 * `/warden access request …`: checks everything the issue asks for (permission, role cap, ticket,
 * reason, a registered key, a valid login), then opens an approval whose hook creates the grant,
 * or with `--emergency` grants at once (commands/access/break-glass.ts).
 */
export const ACCESS_REQUEST_SUBJECT = 'access-request';

export interface AccessRequestInput {
  /** A server name or a project slug. */
  target?: string;
  duration?: string;
  login?: string;
  ticket?: string;
  reason?: string;
  emergency?: boolean;
  /** ISO time the grant should start (default: at approval). */
  start?: string;
  /** Which registered key (fingerprint or id); default the newest. */
  key?: string;
}

export interface AccessRequestOutcome {
  request: AccessRequest;
  /** The approval that decides it (normal requests). */
  approval?: OpenedApproval;
  /** Break-glass: the grant, active now, and the review that must acknowledge it. */
  grant?: Grant;
  reviewId?: number;
}

/** Fields a request cannot do without; when some are missing the chat opens a form instead. */
export function missingFields(input: AccessRequestInput): string[] {
  return (['target', 'duration', 'ticket', 'reason'] as const).filter((k) => !input[k]?.trim());
}

interface Scope {
  project: Project;
  scope: 'server' | 'project';
  name: string;
  serverIds: number[];
}

async function resolveScope(deps: Deps, text: string): Promise<Scope> {
  const name = text.trim();
  const server = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name)
    ? await getServerByName(deps.sql, name)
    : undefined;
  if (server) {
    const project = server.projectId === null ? undefined : await getProjectById(deps.sql, server.projectId);
    if (!project) {
      throw new AppError(
        'bad_request',
        `server ${server.name} belongs to no project, so nobody can approve access to it; ask an admin to put it in one.`,
      );
    }
    return { project, scope: 'server', name: server.name, serverIds: [server.id] };
  }
  const slug = name.toLowerCase();
  const project = /^[a-z0-9][a-z0-9-]{0,62}$/.test(slug) ? await getProjectBySlug(deps.sql, slug) : undefined;
  if (!project) {
    throw new AppError(
      'not_found',
      `there is no server or project ${quoteForMessage(name)}; type \`servers\` or \`projects\` to list them.`,
    );
  }
  const servers = await listServers(deps.sql, { projectIds: null, projectId: project.id, limit: 1000 });
  if (servers.length === 0) {
    throw new AppError(
      'bad_request',
      `project ${project.slug} has no servers yet; there is nothing to grant access to.`,
    );
  }
  return { project, scope: 'project', name: project.slug, serverIds: servers.map((s) => s.id) };
}

function heldRoles(actor: Actor, projectId: number): string {
  const roles = actor.bindings
    .filter((b) => b.projectId === null || b.projectId === projectId)
    .map((b) => b.role);
  return [...new Set(roles)].join(', ') || 'none';
}

/** The request's fields, as a form names them: an input error in one is shown under it. */
export type AccessField = 'target' | 'duration' | 'login' | 'ticket' | 'reason' | 'start';

/**
 * Run one field's check; a bad value (bad_request, not_found) comes out tagged with the field in
 * `details.field`, so a form can put the message under that field. Refusals stay whole-form.
 */
async function forField<T>(field: AccessField, check: () => T | Promise<T>): Promise<T> {
  try {
    return await check();
  } catch (error) {
    if (error instanceof AppError && (error.code === 'bad_request' || error.code === 'not_found')) {
      throw new AppError(error.code, error.message, { cause: error, details: { ...error.details, field } });
    }
    throw error;
  }
}

export async function requestAccess(
  deps: Deps,
  actor: Actor,
  input: AccessRequestInput,
): Promise<AccessRequestOutcome> {
  const missing = missingFields(input);
  if (missing.length) throw new AppError('bad_request', `the request needs: ${missing.join(', ')}.`);
  const scope = await forField('target', () => resolveScope(deps, input.target!));
  const { project } = scope;
  authorize(actor, 'access:request', project);
  const emergency = input.emergency === true;
  if (emergency) authorize(actor, 'access:break-glass', project);
  const policy = accessPolicy(project);
  const now = deps.clock.now();
  const durationMs = await forField('duration', () =>
    checkDuration(input.duration, durationCap(actor, project.id, policy), heldRoles(actor, project.id)),
  );
  const login = await forField('login', () => checkLogin(input.login, policy));
  const reason = await forField('reason', () => checkReason(input.reason));
  const { ticket, verified, link } = await forField('ticket', () =>
    checkTicketFor(deps, input.ticket, emergency),
  );
  const requestedStart = emergency ? null : await forField('start', () => checkStart(input.start, now));
  const key = await pickKey(deps.sql, actor.user.id, input.key);
  if (policy.mode === 'certificate') await assertKeyNotRevoked(deps.sql, project.id, key.fingerprint, now);
  const row: NewAccessRequest = {
    requesterId: actor.user.id,
    projectId: project.id,
    scope: scope.scope,
    scopeName: scope.name,
    serverIds: scope.serverIds,
    login,
    durationMs,
    requestedStart,
    ticket,
    reason,
    mode: policy.mode,
    emergency,
    publicKey: key.publicKey,
    keyFingerprint: key.fingerprint,
    keyId: key.id,
    extendsGrantId: null,
    status: emergency ? 'approved' : 'pending',
    createdAt: now,
  };
  const outcome = await withTx(deps.sql, async (tx): Promise<AccessRequestOutcome> => {
    const request = await insertAccessRequest(tx, row);
    // From here on every event about the request (grant, expiry, revocation) is also a comment on its ticket.
    if (link) {
      await linkTicket(tx, deps, {
        subject: { type: ACCESS_REQUEST_SUBJECT, id: String(request.id) },
        ticket: link,
        actor: `user:${actor.user.handle}`,
        projectId: project.id,
      });
    }
    if (emergency) return openBreakGlass(tx, deps, { actor, request, project, ticketVerified: verified });
    const approval = await openApproval(tx, deps, {
      subject: { type: ACCESS_REQUEST_SUBJECT, id: String(request.id) },
      projectId: project.id,
      requester: actor,
      permission: 'access:approve',
      title: `Access to ${scope.name} as ${login} for ${formatDuration(durationMs)} (${actor.user.handle})`,
      details: requestFields(request),
      data: { accessRequestId: request.id },
    });
    await setAccessRequestApproval(tx, request.id, approval.request.id);
    return { request: { ...request, approvalId: approval.request.id }, approval };
  });
  deps.kickOutbox?.();
  return outcome;
}

/** `/warden access extend <grant> for <duration> reason "…"`: a new approval that lengthens a grant. */
export async function extendAccess(
  deps: Deps,
  actor: Actor,
  input: { grantId: number; duration?: string; ticket?: string; reason?: string },
): Promise<AccessRequestOutcome> {
  const grant = await getGrant(deps.sql, input.grantId);
  if (!grant || grant.requesterId !== actor.user.id) {
    throw new AppError(
      'not_found',
      `you have no grant #${input.grantId}; type \`access list\` to see yours.`,
    );
  }
  if (grant.status !== 'active') {
    throw new AppError(
      'conflict',
      `grant #${grant.id} is ${grant.status}; ask for new access with \`access request\` instead.`,
    );
  }
  const project = (await getProjectById(deps.sql, grant.projectId))!;
  authorize(actor, 'access:request', project);
  const policy = accessPolicy(project);
  const durationMs = checkDuration(
    input.duration,
    durationCap(actor, project.id, policy),
    heldRoles(actor, project.id),
  );
  const reason = checkReason(input.reason);
  const { ticket } = await checkTicketFor(deps, input.ticket ?? grant.ticket, false);
  const now = deps.clock.now();
  const rows = await listGrantServers(deps.sql, grant.id);
  const serverIds = rows.map((r) => r.serverId);
  const scopeName = rows.length === 1 ? rows[0]!.serverName : project.slug;
  const outcome = await withTx(deps.sql, async (tx) => {
    const request = await insertAccessRequest(tx, {
      requesterId: actor.user.id,
      projectId: project.id,
      scope: serverIds.length === 1 ? 'server' : 'project',
      scopeName,
      serverIds,
      login: grant.login,
      durationMs,
      requestedStart: null,
      ticket,
      reason,
      mode: grant.mode,
      emergency: false,
      publicKey: grant.publicKey,
      keyFingerprint: grant.keyFingerprint,
      keyId: grant.keyId,
      extendsGrantId: grant.id,
      status: 'pending',
      createdAt: now,
    });
    const approval = await openApproval(tx, deps, {
      subject: { type: ACCESS_REQUEST_SUBJECT, id: String(request.id) },
      projectId: project.id,
      requester: actor,
      permission: 'access:approve',
      title: `Extend grant #${grant.id} (${grant.login}) by ${formatDuration(durationMs)} (${actor.user.handle})`,
      details: requestFields(request, [
        { label: 'Extends', value: `grant #${grant.id}, now ending ${formatUtc(grant.expiresAt)}` },
      ]),
      data: { accessRequestId: request.id },
    });
    await setAccessRequestApproval(tx, request.id, approval.request.id);
    await recordEvent(
      tx,
      deps,
      {
        actor: `user:${actor.user.handle}`,
        action: 'access.extension-requested',
        subject: { type: 'grant', id: String(grant.id) },
        projectId: grant.projectId,
        data: { requestId: request.id, approvalId: approval.request.id, durationMs, ticket },
      },
      threadText(
        grant.approvalId,
        grant.projectId,
        `${actor.user.handle} asked to extend grant #${grant.id} by ${formatDuration(durationMs)}: approval #${approval.request.id}.`,
      ),
    );
    return { request: { ...request, approvalId: approval.request.id }, approval };
  });
  deps.kickOutbox?.();
  return outcome;
}
