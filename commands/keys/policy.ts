import { AppError } from '../../lib/errors.js';
import type { KeyInstallation, KeyRecord } from '../../storage/keys.js';
import { parseDuration } from '../grammar.js';

/**
 * Rotation policy. A project sets `settings.keys.rotateEvery` ("30d", "12h", …; default 30 days,
 * at least one hour). A service key follows the strictest policy among the projects it serves; a
 * key with its own `rotate_every_ms` follows that. Keys rotate on schedule whether used or not.
 */
export const DEFAULT_ROTATE_EVERY_MS = 30 * 86_400_000;
export const MIN_ROTATE_EVERY_MS = 3_600_000;

export interface ProjectPolicySource {
  id: number;
  slug: string;
  settings: Record<string, unknown>;
}

/** A project's rotation interval from its settings; a bad value is an error naming the project. */
export function projectRotateEveryMs(project: ProjectPolicySource): number {
  const keys = project.settings.keys;
  if (keys === undefined || keys === null) return DEFAULT_ROTATE_EVERY_MS;
  const value = typeof keys === 'object' ? (keys as Record<string, unknown>).rotateEvery : undefined;
  if (value === undefined) return DEFAULT_ROTATE_EVERY_MS;
  let ms: number;
  if (typeof value === 'number' && Number.isFinite(value)) ms = value;
  else if (typeof value === 'string') ms = parseDuration(value);
  else ms = Number.NaN;
  if (!(ms >= MIN_ROTATE_EVERY_MS)) {
    throw new AppError(
      'bad_request',
      `Project ${project.slug} has settings.keys.rotateEvery = ${JSON.stringify(value)}; write a duration of at least 1h, like "12h" or "30d".`,
    );
  }
  return ms;
}

export interface KeyPolicy {
  /** null: Warden does not rotate this key (user keys, which their owners replace). */
  rotateEveryMs: number | null;
  /** Where the interval comes from, for people: `key`, `project prod`, `default`. */
  source: string;
  lastRotatedAt: Date;
  nextRotationAt: Date | null;
  overdue: boolean;
  /** How long past due, in ms (0 when not overdue). */
  overdueByMs: number;
}

/**
 * The policy that applies to `key` now. `projects` are those whose servers hold the key, plus the
 * key's own project. A project whose settings are broken falls back to the default interval so a
 * typo never stops rotation (the error is reported where the settings are edited).
 */
export function keyPolicy(
  key: Pick<KeyRecord, 'kind' | 'createdAt' | 'rotateEveryMs' | 'projectId'>,
  projects: readonly ProjectPolicySource[],
  now: Date,
): KeyPolicy {
  const lastRotatedAt = key.createdAt;
  let rotateEveryMs: number | null = null;
  let source = 'not rotated by Warden';
  if (key.rotateEveryMs !== null) {
    rotateEveryMs = key.rotateEveryMs;
    source = 'key';
  } else if (key.kind === 'service') {
    let best: { ms: number; slug: string; explicit: boolean } | undefined;
    for (const p of projects) {
      let ms: number;
      try {
        ms = projectRotateEveryMs(p);
      } catch {
        ms = DEFAULT_ROTATE_EVERY_MS;
      }
      const explicit = (p.settings.keys as { rotateEvery?: unknown } | undefined)?.rotateEvery !== undefined;
      if (!best || ms < best.ms) best = { ms, slug: p.slug, explicit };
    }
    rotateEveryMs = best?.ms ?? DEFAULT_ROTATE_EVERY_MS;
    source = best?.explicit ? `project ${best.slug}` : 'default';
  }
  if (rotateEveryMs === null) {
    return { rotateEveryMs, source, lastRotatedAt, nextRotationAt: null, overdue: false, overdueByMs: 0 };
  }
  const next = new Date(lastRotatedAt.getTime() + rotateEveryMs);
  const overdueByMs = Math.max(0, now.getTime() - next.getTime());
  return {
    rotateEveryMs,
    source,
    lastRotatedAt,
    nextRotationAt: next,
    overdue: overdueByMs > 0,
    overdueByMs,
  };
}

/** The projects a key's policy looks at: its own and those of the servers it is installed on. */
export function projectsOfKey<P extends ProjectPolicySource>(
  key: Pick<KeyRecord, 'id' | 'projectId'>,
  installations: readonly Pick<KeyInstallation, 'keyId' | 'projectId'>[],
  projectsById: ReadonlyMap<number, P>,
): P[] {
  const ids = new Set<number>();
  if (key.projectId !== null) ids.add(key.projectId);
  for (const i of installations) if (i.keyId === key.id && i.projectId !== null) ids.add(i.projectId);
  return [...ids].map((id) => projectsById.get(id)).filter((p): p is P => p !== undefined);
}
