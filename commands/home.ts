import type { ListItem } from '../bot/chat/model.js';
import { listGrants } from '../storage/access.js';
import { countStatesByProject } from '../storage/compliance-digest.js';
import { listProjects } from '../storage/inventory.js';
import { lastProjectScanStarts } from '../storage/scans.js';
import { grantItem } from './access/list.js';
import { formatUtc } from './approvals/render.js';
import type { Deps } from './deps.js';
import { type Actor, can } from './rbac/authorize.js';

/**
 * What a chat "home" (Slack's App Home tab) shows beside approvals: the person's own active
 * grants, and per project they can read, its compliance counts and last scan. Read from stored
 * state (no evaluation, no scan), so opening the tab stays cheap.
 */
const GRANT_LIMIT = 50;

export async function homeGrants(deps: Deps, actor: Actor): Promise<ListItem[]> {
  const now = deps.clock.now();
  // No project ids: only the user's own grants.
  const own = await listGrants(deps.sql, { userId: actor.user.id, projectIds: [], limit: GRANT_LIMIT });
  const active = own.filter((g) => g.status === 'active' && g.expiresAt > now);
  if (active.length === 0) return [];
  const projects = await listProjects(deps.sql, { projectIds: [...new Set(active.map((g) => g.projectId))] });
  const listing = { projects: new Map(projects.map((p) => [p.id, p.slug])) };
  return active.map((g) => grantItem(g, listing, now));
}

export async function homeCompliance(
  deps: Deps,
  actor: Actor,
  projectIds: number[],
): Promise<Map<number, string>> {
  const readable = projectIds.filter((id) => can(actor, 'compliance:read', id));
  const out = new Map<number, string>();
  if (readable.length === 0) return out;
  const counts = await countStatesByProject(deps.sql, readable);
  const scans = await lastProjectScanStarts(deps.sql, readable);
  for (const id of readable) {
    const c = counts.find((x) => x.projectId === id);
    const scanned = scans.get(id);
    const parts = c
      ? [
          `${c.compliant} compliant, ${c.nonCompliant} not compliant, ${c.unknown} unknown`,
          ...(c.pendingSecurity > 0
            ? [`${c.pendingSecurity} security update${c.pendingSecurity === 1 ? '' : 's'} pending`]
            : []),
        ]
      : ['not evaluated yet'];
    parts.push(scanned ? `last scanned ${formatUtc(scanned)}` : 'never scanned as a whole');
    out.set(id, parts.join(' · '));
  }
  return out;
}
