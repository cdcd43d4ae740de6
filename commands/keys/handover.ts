import { AppError } from '../../lib/errors.js';
import { withTx } from '../../storage/db.js';
import { setSecretOwner } from '../../storage/key-rotations.js';
import {
  findLiveKeysByFingerprintPrefix,
  getKey,
  getKeyByFingerprint,
  insertHandover,
  type KeyRecord,
  listLiveInstallations,
  listPolicyProjects,
  setKeyOwner,
} from '../../storage/keys.js';
import { getUserByHandle } from '../../storage/users.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { actorFacts, actorRef, type CallMeta } from '../inventory/scope.js';
import { type Actor, authorize } from '../rbac/authorize.js';

/**
 * Ownership of a key moves only here: `/warden keys handover <fingerprint> to <user>` (or the
 * API), by someone holding keys:manage where the key lives (every project whose servers hold it;
 * globally for keys that belong to no project, such as users' own keys). Each handover is a row
 * in key_handovers and an event on the trail, and both owners are told.
 */
export interface HandoverInput {
  /** `SHA256:…`, or an unambiguous prefix of at least 12 characters of it. */
  fingerprint: string;
  /** The new owner's Warden handle (with or without @). */
  to: string;
  reason?: string;
}

const MIN_PREFIX = 12;

/** The live key a typed fingerprint (or prefix) names; refuses ambiguity instead of guessing. */
export async function resolveKey(deps: Pick<Deps, 'sql'>, typed: string): Promise<KeyRecord> {
  const fingerprint = typed.trim();
  if (!/^SHA256:[A-Za-z0-9+/]{1,43}$/.test(fingerprint)) {
    throw new AppError(
      'bad_request',
      `"${fingerprint.slice(0, 60)}" is not a key fingerprint; it looks like SHA256:… (see /warden keys status).`,
    );
  }
  const exact = await getKeyByFingerprint(deps.sql, fingerprint);
  if (exact) return exact;
  if (fingerprint.length < MIN_PREFIX) {
    throw new AppError('bad_request', `Give at least ${MIN_PREFIX} characters of the fingerprint.`);
  }
  const found = await findLiveKeysByFingerprintPrefix(deps.sql, fingerprint);
  if (found.length === 1) return found[0]!;
  if (found.length > 1) {
    throw new AppError('bad_request', `${fingerprint} matches several keys; give more of the fingerprint.`);
  }
  throw new AppError(
    'not_found',
    `Warden knows no key ${fingerprint}. /warden keys status lists the keys you may see.`,
  );
}

/** The projects whose keys:manage a change to this key needs (none: it needs a global grant). */
export async function keyScopes(deps: Pick<Deps, 'sql'>, key: KeyRecord) {
  const ids = new Set<number>();
  if (key.projectId !== null) ids.add(key.projectId);
  if (key.kind !== 'user') {
    for (const i of await listLiveInstallations(deps.sql, [key.id]))
      if (i.projectId !== null) ids.add(i.projectId);
  }
  return listPolicyProjects(deps.sql, [...ids]);
}

export async function handoverKey(
  deps: Deps,
  actor: Actor,
  input: HandoverInput,
  meta: CallMeta = {},
): Promise<KeyRecord> {
  const key = await resolveKey(deps, input.fingerprint);
  const scopes = await keyScopes(deps, key);
  if (scopes.length === 0) authorize(actor, 'keys:manage', null);
  for (const project of scopes) authorize(actor, 'keys:manage', project);
  if (key.retiredAt) {
    throw new AppError(
      'conflict',
      `Key ${key.fingerprint} was retired (${key.retiredReason}); there is nothing to hand over.`,
    );
  }
  const handle = input.to.trim().replace(/^@/, '');
  const to = await getUserByHandle(deps.sql, handle);
  if (!to)
    throw new AppError(
      'not_found',
      `There is no Warden user @${handle.slice(0, 64)}; check the handle with an admin.`,
    );
  if (to.disabled) throw new AppError('conflict', `@${to.handle} is disabled and cannot own a key.`);
  if (to.id === key.ownerId) throw new AppError('conflict', `@${to.handle} already owns ${key.fingerprint}.`);
  const reason = (input.reason ?? '').trim() || 'no reason given';
  if (reason.length > 500) throw new AppError('bad_request', 'Keep the reason under 500 characters.');

  return withTx(deps.sql, async (tx) => {
    const current = await getKey(tx, key.id);
    if (!current || current.ownerId !== key.ownerId || current.retiredAt) {
      throw new AppError(
        'conflict',
        `Key ${key.fingerprint} changed meanwhile; look at /warden keys status and try again.`,
      );
    }
    const at = deps.clock.now();
    await setKeyOwner(tx, key.id, to.id);
    if (key.secretId !== null) await setSecretOwner(tx, key.secretId, to.id);
    const handoverId = await insertHandover(
      tx,
      { keyId: key.id, fromUserId: key.ownerId, toUserId: to.id, byUserId: actor.user.id, reason },
      at,
    );
    const text = `Key ${key.fingerprint} (${key.kind}, ${key.purpose}) now belongs to @${to.handle} instead of @${key.ownerHandle}. Handed over by @${actor.user.handle}: ${reason}`;
    await recordEvent(
      tx,
      deps,
      {
        actor: actorRef(actor),
        action: 'key.handed-over',
        subject: { type: 'key', id: String(key.id) },
        projectId: key.projectId ?? scopes[0]?.id ?? null,
        requestId: meta.requestId,
        data: {
          handover: handoverId,
          fingerprint: key.fingerprint,
          from: key.ownerHandle,
          to: to.handle,
          reason,
          ...actorFacts(actor),
        },
      },
      [
        {
          kind: 'direct',
          userId: to.id,
          reply: { visibility: 'private', header: 'You now own a key', text },
        },
        {
          kind: 'direct',
          userId: key.ownerId,
          reply: { visibility: 'private', header: 'A key you owned moved', text },
        },
      ],
    );
    return (await getKey(tx, key.id))!;
  });
}
