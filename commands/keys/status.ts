import { getProjectBySlug } from '../../storage/inventory.js';
import {
  type KeyInstallation,
  type KeyKind,
  type KeyRecord,
  listLiveInstallations,
  listPolicyProjects,
  listVisibleKeys,
} from '../../storage/keys.js';
import type { Deps } from '../deps.js';
import { projectNotFound } from '../inventory/projects.js';
import { projectsWith } from '../inventory/scope.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import { keyPolicy, projectsOfKey } from './policy.js';

/**
 * `/warden keys status` and GET /api/v1/keys: the keys the caller may see, each with its one
 * owner, fingerprint, where it is installed, when it was made and last used, and when it is due
 * for rotation (overdue ones marked). Everyone sees their own keys; keys:read on a project adds
 * the service keys and CAs that live on that project's servers; a global keys:read sees all.
 */
export interface KeyStatus {
  id: number;
  kind: KeyKind;
  owner: string;
  fingerprint: string;
  type: string;
  bits: number;
  purpose: string;
  project: string | null;
  installedOn: { server: string; login: string; installedAt: Date; verifiedAt: Date | null }[];
  createdAt: Date;
  lastUsedAt: Date | null;
  lastRotatedAt: Date;
  /** e.g. `every 30d (default)`, or `not rotated by Warden` for user keys. */
  rotationPolicy: string;
  rotateEveryMs: number | null;
  nextRotationAt: Date | null;
  overdue: boolean;
  overdueByMs: number;
  retiredAt: Date | null;
}

export interface KeysStatusInput {
  /** Only keys of this project (service keys and CAs on it, and the caller's own). */
  project?: string;
  includeRetired?: boolean;
}

export async function keysStatus(
  deps: Deps,
  actor: Actor,
  input: KeysStatusInput = {},
): Promise<KeyStatus[]> {
  let projectIds = projectsWith(actor, 'keys:read');
  let onlyProject: number | undefined;
  if (input.project !== undefined) {
    const project = await getProjectBySlug(deps.sql, input.project);
    if (!project) throw projectNotFound(input.project);
    authorize(actor, 'keys:read', project);
    projectIds = [project.id];
    onlyProject = project.id;
  }
  const keys = await listVisibleKeys(deps.sql, {
    ownerId: actor.user.id,
    projectIds,
    includeRetired: input.includeRetired,
  });
  const installations = await listLiveInstallations(
    deps.sql,
    keys.map((k) => k.id),
  );
  const relevant =
    onlyProject === undefined
      ? keys
      : keys.filter(
          (k) =>
            k.ownerId === actor.user.id ||
            k.projectId === onlyProject ||
            installations.some((i) => i.keyId === k.id && i.projectId === onlyProject),
        );
  return statusRows(deps, relevant, installations);
}

/** The status rows of `keys` (shared with the audit report). */
export async function statusRows(
  deps: Pick<Deps, 'sql' | 'clock'>,
  keys: readonly KeyRecord[],
  installations: readonly KeyInstallation[],
): Promise<KeyStatus[]> {
  const now = deps.clock.now();
  const projectIds = new Set<number>();
  for (const k of keys) if (k.projectId !== null) projectIds.add(k.projectId);
  for (const i of installations) if (i.projectId !== null) projectIds.add(i.projectId);
  const projects = new Map((await listPolicyProjects(deps.sql, [...projectIds])).map((p) => [p.id, p]));
  return keys.map((key) => {
    const policy = keyPolicy(key, projectsOfKey(key, installations, projects), now);
    const live = key.retiredAt === null;
    return {
      id: key.id,
      kind: key.kind,
      owner: key.ownerHandle,
      fingerprint: key.fingerprint,
      type: key.keyType,
      bits: key.bits,
      purpose: key.purpose,
      project: key.projectSlug,
      installedOn: installations
        .filter((i) => i.keyId === key.id)
        .map((i) => ({
          server: i.serverName,
          login: i.login,
          installedAt: i.installedAt,
          verifiedAt: i.verifiedAt,
        })),
      createdAt: key.createdAt,
      lastUsedAt: key.lastUsedAt,
      lastRotatedAt: policy.lastRotatedAt,
      rotationPolicy: policyText(policy.rotateEveryMs, policy.source),
      rotateEveryMs: policy.rotateEveryMs,
      nextRotationAt: live ? policy.nextRotationAt : null,
      overdue: live && policy.overdue,
      overdueByMs: live ? policy.overdueByMs : 0,
      retiredAt: key.retiredAt,
    };
  });
}

function policyText(everyMs: number | null, source: string): string {
  if (everyMs === null) return source;
  const days = everyMs / 86_400_000;
  const every = Number.isInteger(days) ? `${days}d` : `${Math.round(everyMs / 3_600_000)}h`;
  return `every ${every} (${source})`;
}
