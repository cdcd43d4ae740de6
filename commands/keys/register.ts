import { AppError } from '../../lib/errors.js';
import { type Tx, withTx } from '../../storage/db.js';
import {
  getKey,
  getKeyByFingerprint,
  insertKey,
  type KeyKind,
  type KeyRecord,
  retireKey,
  unretireKey,
} from '../../storage/keys.js';
import { getUser } from '../../storage/users.js';
import { recordEvent, type TrailDeps } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { actorFacts, actorRef, type CallMeta } from '../inventory/scope.js';
import type { Actor } from '../rbac/authorize.js';
import { validatePublicKey } from './validate.js';

export { fingerprintOf, MIN_RSA_BITS, type ValidatedPublicKey, validatePublicKey } from './validate.js';

/** What registerKey needs besides the key: who owns it, why it exists, who is acting. */
export interface RegisterKeyInput {
  kind: KeyKind;
  /** The one owner (a user id). */
  ownerId: number;
  /** e.g. `personal`, `warden service key for web-01`, `ssh user CA for project prod`. */
  purpose: string;
  /** The OpenSSH public key line; validated with validatePublicKey. */
  publicKey: string;
  /** Service keys and the CA: the `secrets` row holding the sealed private key. */
  secretId?: number | null;
  /** The project whose policy the key follows (service keys, a project's CA). */
  projectId?: number | null;
  /** A fixed rotation interval for this key; unset: the projects' policy. */
  rotateEveryMs?: number | null;
  nextRotationAt?: Date | null;
  /** The previous generation (rotation). */
  rotatedFrom?: number | null;
  /** How the trail names who acted: `user:<handle>`, `job:<name>`, `system`. */
  actor: string;
  requestId?: string;
  /** Extra facts for the trail event (never secrets). */
  facts?: Record<string, unknown>;
}

const PURPOSE = /^[\p{L}\p{N} @._+:/,=#()-]{1,200}$/u;

/**
 * Add a key to the registry inside the caller's transaction, with its `key.registered` event.
 * Refuses a fingerprint Warden already knows (one key, one owner). The access half uses this for
 * the SSH user CA: `registerKey(tx, deps, { kind: 'ca', ownerId, purpose, publicKey, secretId,
 * projectId, actor })`.
 */
export async function registerKey(tx: Tx, deps: TrailDeps, input: RegisterKeyInput): Promise<KeyRecord> {
  const key = validatePublicKey(input.publicKey);
  if (!PURPOSE.test(input.purpose)) {
    throw new AppError(
      'bad_request',
      'A key purpose is 1 to 200 letters, digits, spaces and simple punctuation.',
    );
  }
  if (input.kind === 'service' && !input.secretId) {
    throw new AppError('internal', 'a service key is registered with the secret that holds its private key');
  }
  if (input.kind === 'user' && input.secretId) {
    throw new AppError('internal', 'Warden never holds the private half of a user key');
  }
  const existing = await getKeyByFingerprint(tx, key.fingerprint);
  if (existing) throw alreadyKnown(existing, input.ownerId);
  const at = deps.clock.now();
  const id = await insertKey(
    tx,
    {
      kind: input.kind,
      ownerId: input.ownerId,
      purpose: input.purpose,
      fingerprint: key.fingerprint,
      keyType: key.type,
      bits: key.bits,
      publicKey: key.normalized,
      secretId: input.secretId ?? null,
      projectId: input.projectId ?? null,
      rotateEveryMs: input.rotateEveryMs ?? null,
      nextRotationAt: input.nextRotationAt ?? null,
      rotatedFrom: input.rotatedFrom ?? null,
    },
    at,
  );
  const record = (await getKey(tx, id))!;
  await recordEvent(tx, deps, {
    actor: input.actor,
    action: 'key.registered',
    subject: { type: 'key', id: String(id) },
    projectId: record.projectId,
    requestId: input.requestId,
    data: {
      kind: record.kind,
      fingerprint: record.fingerprint,
      type: record.keyType,
      bits: record.bits,
      owner: record.ownerHandle,
      purpose: record.purpose,
      ...input.facts,
    },
  });
  return record;
}

function alreadyKnown(existing: KeyRecord, ownerId: number): AppError {
  if (existing.ownerId === ownerId && existing.retiredAt === null) {
    return new AppError('conflict', `That key (${existing.fingerprint}) is already registered to you.`, {
      details: { fingerprint: existing.fingerprint },
    });
  }
  if (existing.ownerId === ownerId) {
    return new AppError('conflict', `That key (${existing.fingerprint}) was retired; make a new key pair.`, {
      details: { fingerprint: existing.fingerprint },
    });
  }
  // Never say whose it is: the caller may not see that owner.
  return new AppError(
    'conflict',
    `That key (${existing.fingerprint}) is already registered to someone else, and a key has exactly one owner. ` +
      'If it really is yours, ask an admin for a handover (/warden keys handover); otherwise make your own key pair.',
    { details: { fingerprint: existing.fingerprint } },
  );
}

/**
 * `/warden keys add` and POST /api/v1/keys: register the caller's own public key. Re-adding a
 * key the caller removed earlier brings it back rather than failing.
 */
export async function addUserKey(
  deps: Deps,
  actor: Actor,
  input: { publicKey: string; purpose?: string },
  meta: CallMeta = {},
): Promise<KeyRecord> {
  const key = validatePublicKey(input.publicKey);
  const purpose = input.purpose?.trim() || 'personal key for access grants';
  return withTx(deps.sql, async (tx) => {
    const existing = await getKeyByFingerprint(tx, key.fingerprint);
    if (
      existing?.ownerId === actor.user.id &&
      existing.kind === 'user' &&
      existing.retiredReason === 'removed by owner'
    ) {
      await unretireKey(tx, existing.id);
      await recordEvent(tx, deps, {
        actor: actorRef(actor),
        action: 'key.restored',
        subject: { type: 'key', id: String(existing.id) },
        requestId: meta.requestId,
        data: { fingerprint: existing.fingerprint, ...actorFacts(actor) },
      });
      return (await getKey(tx, existing.id))!;
    }
    return registerKey(tx, deps, {
      kind: 'user',
      ownerId: actor.user.id,
      purpose,
      publicKey: key.normalized,
      actor: actorRef(actor),
      requestId: meta.requestId,
      facts: actorFacts(actor),
    });
  });
}

/** `/warden keys remove <fingerprint>`: the owner retires one of their own user keys. */
export async function removeUserKey(
  deps: Deps,
  actor: Actor,
  fingerprint: string,
  meta: CallMeta = {},
): Promise<KeyRecord> {
  return withTx(deps.sql, async (tx) => {
    const key = await getKeyByFingerprint(tx, fingerprint);
    if (!key || key.ownerId !== actor.user.id || key.kind !== 'user' || key.retiredAt) {
      throw new AppError(
        'not_found',
        `You have no registered key ${fingerprint}. /warden keys status lists yours with their fingerprints.`,
      );
    }
    await retireKey(tx, key.id, deps.clock.now(), 'removed by owner');
    await recordEvent(tx, deps, {
      actor: actorRef(actor),
      action: 'key.removed',
      subject: { type: 'key', id: String(key.id) },
      requestId: meta.requestId,
      data: { fingerprint: key.fingerprint, ...actorFacts(actor) },
    });
    return (await getKey(tx, key.id))!;
  });
}

/** The handle of a user id, for messages (a key's owner always exists: owner_id is RESTRICT). */
export async function handleOf(deps: Pick<Deps, 'sql'>, userId: number): Promise<string> {
  return (await getUser(deps.sql, userId))?.handle ?? `#${userId}`;
}
