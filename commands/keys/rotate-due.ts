import type { Notification } from '../../bot/chat/model.js';
import { withTx } from '../../storage/db.js';
import { finishRotation, lastFailures, listStaleRotations } from '../../storage/key-rotations.js';
import {
  getServiceKey,
  listLiveInstallations,
  listLiveServiceKeys,
  listPolicyProjects,
  type ServiceKey,
} from '../../storage/keys.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { type OpenTarget, sshTargetFor, unsealServiceKey, withTarget } from './connect.js';
import { eachLimited } from './limit.js';
import { type KeyPolicy, keyPolicy, projectsOfKey } from './policy.js';
import { placementsOf, type RotateOptions, type RotationOutcome, rotateServiceKey } from './rotate.js';
import { completeOldKeyRemoval } from './rotate-switch.js';
import { syncServiceKeys } from './sync.js';

/**
 * The scheduled side of rotation: find the service keys whose policy says they are due (used or
 * not), finish or clean up runs that died, rotate with bounded concurrency, and tell each
 * project's channel what happened.
 */
export const ROTATION_STALE_MS = 15 * 60_000;
/** After a failure, wait this long (or the key's interval, if shorter) before trying again. */
export const RETRY_AFTER_FAILURE_MS = 6 * 3_600_000;

export interface DueKey {
  key: ServiceKey;
  policy: KeyPolicy;
}

/** Live, installed service keys that are due now and not holding off after a recent failure. */
export async function findDueServiceKeys(deps: Pick<Deps, 'sql' | 'clock'>): Promise<DueKey[]> {
  const now = deps.clock.now();
  const keys = await listLiveServiceKeys(deps.sql);
  const installations = await listLiveInstallations(
    deps.sql,
    keys.map((k) => k.id),
  );
  const projectIds = new Set<number>();
  for (const k of keys) if (k.projectId !== null) projectIds.add(k.projectId);
  for (const i of installations) if (i.projectId !== null) projectIds.add(i.projectId);
  const projects = new Map((await listPolicyProjects(deps.sql, [...projectIds])).map((p) => [p.id, p]));
  const failures = await lastFailures(
    deps.sql,
    keys.map((k) => k.id),
  );
  const due: DueKey[] = [];
  for (const key of keys) {
    if (!installations.some((i) => i.keyId === key.id)) continue;
    const policy = keyPolicy(key, projectsOfKey(key, installations, projects), now);
    if (policy.nextRotationAt === null || policy.nextRotationAt > now) continue;
    const failedAt = failures.get(key.id);
    const wait = Math.min(RETRY_AFTER_FAILURE_MS, policy.rotateEveryMs ?? RETRY_AFTER_FAILURE_MS);
    if (failedAt && now.getTime() - failedAt.getTime() < wait) continue;
    due.push({ key, policy });
  }
  return due.sort(
    (a, b) => (a.policy.nextRotationAt?.getTime() ?? 0) - (b.policy.nextRotationAt?.getTime() ?? 0),
  );
}

/**
 * Rotations whose process died: one still `adding` never switched, so its tagged new lines are
 * taken back through the (still current) old key; one `switched` lost only the clean-up, which
 * is finished through the new key (the old key's refusal cannot be probed: its private half is
 * gone, and the trail says so).
 */
export async function recoverStaleRotations(
  deps: Deps,
  options: { open?: OpenTarget; actor: string },
): Promise<number> {
  const open = options.open ?? sshTargetFor;
  const stale = await listStaleRotations(deps.sql, new Date(deps.clock.now().getTime() - ROTATION_STALE_MS));
  for (const rotation of stale) {
    const old = await getServiceKey(deps.sql, rotation.keyId);
    if (!old) continue;
    const placements = await placementsOf(deps, old);
    const rotateOptions: RotateOptions = { actor: options.actor, trigger: 'schedule', openTarget: open };
    if (rotation.status === 'switched' && rotation.newKeyId !== null) {
      const newPrivate = await unsealServiceKey(deps, rotation.newKeyId);
      await completeOldKeyRemoval(deps, old, rotation.id, {
        placements,
        newPrivate,
        open,
        options: rotateOptions,
      });
      continue;
    }
    const oldPrivate = await unsealServiceKey(deps, old.id);
    const leftovers: string[] = [];
    for (const { installation, server } of placements) {
      try {
        await withTarget(open, server, oldPrivate, (t) =>
          t.removeAuthorizedKey(installation.login, rotation.tag),
        );
      } catch {
        leftovers.push(server.name);
      }
    }
    await withTx(deps.sql, async (tx) => {
      await finishRotation(
        tx,
        rotation.id,
        'abandoned',
        deps.clock.now(),
        'the run stopped before the switch',
      );
      await recordEvent(tx, deps, {
        actor: options.actor,
        action: 'key.rotation.abandoned',
        subject: { type: 'key', id: String(old.id) },
        projectId: old.projectId,
        data: { rotation: rotation.id, fingerprint: old.fingerprint, tag: rotation.tag, leftovers },
      });
    });
  }
  return stale.length;
}

export interface RotationRunSummary {
  due: number;
  recovered: number;
  outcomes: RotationOutcome[];
}

/**
 * One scheduled run: register the scanning core's service keys (sync.ts), recover, find due keys, rotate at most `concurrency` at a time, and post a
 * summary to each project concerned. A key whose rotation throws unexpectedly is reported as
 * failed; the others go on.
 */
export async function rotateDueKeys(
  deps: Deps,
  options: {
    concurrency?: number;
    openTarget?: OpenTarget;
    actor?: string;
    hooks?: RotateOptions['hooks'];
  } = {},
): Promise<RotationRunSummary> {
  const actor = options.actor ?? 'job:keys-rotate';
  const synced = await syncServiceKeys(deps, { actor });
  for (const problem of synced.problems) deps.log.warn({ problem }, 'service key not registered');
  const recovered = await recoverStaleRotations(deps, { open: options.openTarget, actor });
  const due = await findDueServiceKeys(deps);
  const outcomes = await eachLimited(due, options.concurrency ?? 3, async ({ key }) => {
    try {
      return await rotateServiceKey(deps, key.id, {
        actor,
        trigger: 'schedule',
        openTarget: options.openTarget,
        hooks: options.hooks,
      });
    } catch (error) {
      deps.log.error({ err: error, keyId: key.id }, 'key rotation failed unexpectedly');
      return {
        keyId: key.id,
        fingerprint: key.fingerprint,
        status: 'failed',
        servers: [],
        reason: error instanceof Error ? error.message : String(error),
      } satisfies RotationOutcome;
    }
  });
  if (due.length > 0) await postSummary(deps, due, outcomes, actor);
  return { due: due.length, recovered, outcomes };
}

async function postSummary(
  deps: Deps,
  due: readonly DueKey[],
  outcomes: readonly RotationOutcome[],
  actor: string,
) {
  const byProject = new Map<number | null, RotationOutcome[]>();
  due.forEach(({ key }, i) => {
    const list = byProject.get(key.projectId) ?? [];
    list.push(outcomes[i]!);
    byProject.set(key.projectId, list);
  });
  const count = (list: RotationOutcome[], s: RotationOutcome['status']) =>
    list.filter((o) => o.status === s).length;
  const notifications: Notification[] = [...byProject].map(([projectId, list]) => ({
    kind: 'channel-post',
    projectId,
    reply: {
      visibility: 'public',
      tone: list.some((o) => o.status !== 'rotated' && o.status !== 'skipped') ? 'warning' : 'success',
      header: 'Scheduled key rotation',
      text: `${count(list, 'rotated')} rotated, ${count(list, 'failed')} failed, ${count(list, 'old-key-remains')} with an old key left, ${count(list, 'skipped')} skipped.`,
      items: list.map((o) => ({
        text: `${o.fingerprint} → ${o.newFingerprint ?? 'unchanged'}`,
        detail: o.status + (o.reason ? `: ${o.reason}` : ''),
      })),
    },
  }));
  await withTx(deps.sql, (tx) =>
    recordEvent(
      tx,
      deps,
      {
        actor,
        action: 'key.rotation.run',
        data: {
          due: due.length,
          rotated: outcomes.filter((o) => o.status === 'rotated').length,
          failed: outcomes.filter((o) => o.status === 'failed').length,
          oldKeyRemains: outcomes.filter((o) => o.status === 'old-key-remains').length,
        },
      },
      notifications,
    ),
  );
}
