import type { ListItem, Reply } from '../../bot/chat/model.js';
import { AppError } from '../../lib/errors.js';
import {
  type AccessRequest,
  type Grant,
  getGrant,
  listAccessRequests,
  listGrants,
} from '../../storage/access.js';
import { listProjects } from '../../storage/inventory.js';
import { formatUtc, oneLine } from '../approvals/render.js';
import type { Deps } from '../deps.js';
import { formatDuration } from '../grammar.js';
import { type Actor, can } from '../rbac/authorize.js';

/** `/warden access list`: my requests and grants; approvers also see their projects'. */
export interface AccessListing {
  requests: AccessRequest[];
  grants: Grant[];
  /** Slugs by project id, for display. */
  projects: Map<number, string>;
}

const LIMIT = 25;

export async function listAccess(deps: Deps, actor: Actor): Promise<AccessListing> {
  const all = await listProjects(deps.sql, { projectIds: null });
  const approves = all.filter((p) => can(actor, 'access:approve', p.id)).map((p) => p.id);
  const filter = { userId: actor.user.id, projectIds: approves, limit: LIMIT };
  return {
    requests: await listAccessRequests(deps.sql, filter),
    grants: await listGrants(deps.sql, filter),
    projects: new Map(all.map((p) => [p.id, p.slug])),
  };
}

export function grantItem(g: Grant, listing: Pick<AccessListing, 'projects'>, now: Date): ListItem {
  const state =
    g.status === 'active'
      ? g.startsAt > now
        ? `starts ${formatUtc(g.startsAt)}, ends ${formatUtc(g.expiresAt)}`
        : `active until ${formatUtc(g.expiresAt)}`
      : `${g.status} ${g.endedAt ? formatUtc(g.endedAt) : ''}`.trim();
  return {
    text: `Grant #${g.id}: ${g.login} on ${listing.projects.get(g.projectId) ?? 'a project'} · ${state}${g.emergency ? ' · BREAK-GLASS' : ''}`,
    detail: `ticket ${g.ticket} · ${g.mode}${g.certSerial ? ` · certificate serial ${g.certSerial}` : ''}`,
  };
}

function requestItem(r: AccessRequest): ListItem {
  const what = r.extendsGrantId ? `extend grant #${r.extendsGrantId} by` : `${r.scopeName} as ${r.login} for`;
  return {
    text: `Request #${r.id}: ${what} ${formatDuration(r.durationMs)} · ${r.status}${r.approvalId ? ` (approval #${r.approvalId})` : ''}`,
    detail: `ticket ${r.ticket} · ${oneLine(r.reason, 120)}`,
  };
}

export function renderAccessList(listing: AccessListing, now: Date): Reply {
  const items: ListItem[] = [];
  const active = listing.grants.filter((g) => g.status === 'active');
  const ended = listing.grants.filter((g) => g.status !== 'active');
  const pending = listing.requests.filter((r) => r.status === 'pending');
  if (active.length) items.push({ text: 'Active grants' }, ...active.map((g) => grantItem(g, listing, now)));
  if (pending.length) items.push({ text: 'Pending requests' }, ...pending.map(requestItem));
  if (ended.length) items.push({ text: 'Ended grants' }, ...ended.map((g) => grantItem(g, listing, now)));
  if (!items.length) {
    return {
      visibility: 'private',
      text: 'No access requests or grants to show. Ask with `access request <server|project> for 2h ticket OPS-1 reason "…"`.',
    };
  }
  return {
    visibility: 'private',
    header: `${active.length} active grant${active.length === 1 ? '' : 's'}, ${pending.length} pending request${pending.length === 1 ? '' : 's'}`,
    items,
    context: [
      'End a grant early with `access revoke <grant>`; lengthen it with `access extend <grant> for 1h reason "…"`.',
    ],
  };
}

/**
 * One grant, for its requester, an approver of its project or an auditor; anyone else gets the
 * same `not_found` as for a grant that does not exist.
 */
export async function readGrant(deps: Deps, actor: Actor, grantId: number): Promise<Grant> {
  const grant = await getGrant(deps.sql, grantId);
  const allowed =
    grant &&
    (grant.requesterId === actor.user.id ||
      can(actor, 'access:approve', grant.projectId) ||
      can(actor, 'audit:read', grant.projectId));
  if (!grant || !allowed) {
    throw new AppError('not_found', `there is no grant #${grantId} you can see; \`access list\` shows yours`);
  }
  return grant;
}
