import { type Actor, can } from '../rbac/authorize.js';
import type { Permission } from '../rbac/roles.js';

/** Facts about a call that are not input: the request id ties the trail to the HTTP log. */
export interface CallMeta {
  requestId?: string;
}

/** How the trail names the actor: the user, even when a token acted for them (the token is in the data). */
export function actorRef(actor: Actor): string {
  return `user:${actor.user.handle}`;
}

/** Facts about how the actor acted, added to every trail event's data. */
export function actorFacts(actor: Actor): Record<string, unknown> {
  return { via: actor.via, ...(actor.tokenId !== undefined ? { tokenId: actor.tokenId } : {}) };
}

/**
 * The projects on which the actor holds `permission`: null means every project (a global
 * grant), otherwise the ids (possibly none). A project-limited token counts its project even
 * when the user's binding is global.
 */
export function projectsWith(actor: Actor, permission: Permission): number[] | null {
  if (can(actor, permission, null)) return null;
  const candidates = new Set<number>();
  for (const b of actor.bindings) if (b.projectId !== null) candidates.add(b.projectId);
  if (actor.tokenProjectId != null) candidates.add(actor.tokenProjectId);
  return [...candidates].filter((id) => can(actor, permission, id)).sort((a, b) => a - b);
}

/** Does the actor hold `permission` anywhere at all (globally, on a project, or through its token's project)? */
export function holdsAnywhere(actor: Actor, permission: Permission): boolean {
  const ids = projectsWith(actor, permission);
  return ids === null || ids.length > 0;
}

/** The Postgres error code of a failed query (postgres.js puts it on `code`), if any. */
export function pgErrorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
