import { classifyTargetError } from '../../integrations/targets/errors.js';
import { AppError } from '../../lib/errors.js';
import { withTx } from '../../storage/db.js';
import type { Server } from '../../storage/inventory.js';
import {
  finishRotation,
  getRotation,
  markRotationSwitched,
  replaceKeySecret,
} from '../../storage/key-rotations.js';
import {
  getServiceKey,
  insertInstallation,
  type KeyInstallation,
  listPolicyProjects,
  markInstallationRemoved,
  markKeysUsed,
  retireKey,
  type ServiceKey,
  setNextRotation,
} from '../../storage/keys.js';
import type { Deps } from '../deps.js';
import { type OpenTarget, serviceLogin, withTarget } from './connect.js';
import { keyPolicy } from './policy.js';
import { registerKey } from './register.js';
import { removeKeyByBody } from './remote.js';
import type { RotateOptions, ServerRotationResult } from './rotate.js';
import { recordRotationFinished } from './rotate-report.js';
import type { GeneratedKeyPair } from './service.js';

type Placement = { installation: KeyInstallation; server: Server };

/**
 * Step 4, the switch, in one transaction: the secret now holds the new private key, the new
 * generation is registered (same owner, purpose and policy) with its installations, the old one
 * is retired. Refuses when someone else changed the key meanwhile. Returns the new key's id.
 */
export async function switchToNewKey(
  deps: Deps,
  old: ServiceKey,
  rotationId: number,
  pair: GeneratedKeyPair,
  tag: string,
  placements: readonly Placement[],
  options: RotateOptions,
): Promise<number> {
  return withTx(deps.sql, async (tx) => {
    const [current, rotation] = [await getServiceKey(tx, old.id), await getRotation(tx, rotationId)];
    if (!current || current.retiredAt || rotation?.status !== 'adding') {
      throw new AppError('conflict', `service key #${old.id} changed while it was being rotated`);
    }
    const at = deps.clock.now();
    await replaceKeySecret(tx, old.secretId!, deps.vault.seal(pair.privateKey, old.secretName), at);
    await retireKey(tx, old.id, at, 'rotated');
    const projects = await listPolicyProjects(tx, [
      ...new Set(placements.map((p) => p.server.projectId).filter((id): id is number => id !== null)),
      ...(old.projectId !== null ? [old.projectId] : []),
    ]);
    const policy = keyPolicy({ ...old, createdAt: at }, projects, at);
    const created = await registerKey(tx, deps, {
      kind: 'service',
      ownerId: old.ownerId,
      purpose: old.purpose,
      publicKey: pair.publicKey,
      secretId: old.secretId,
      projectId: old.projectId,
      rotateEveryMs: old.rotateEveryMs,
      nextRotationAt: policy.nextRotationAt,
      rotatedFrom: old.id,
      actor: options.actor,
      requestId: options.requestId,
      facts: { rotation: rotationId, replaces: old.fingerprint },
    });
    for (const { installation, server } of placements) {
      await insertInstallation(
        tx,
        { keyId: created.id, serverId: server.id, login: installation.login, tag, verifiedAt: at },
        at,
      );
    }
    await markKeysUsed(tx, [{ fingerprint: created.fingerprint, at }]);
    await setNextRotation(tx, created.id, policy.nextRotationAt);
    await markRotationSwitched(tx, rotationId, created.id, at);
    return created.id;
  });
}

export interface RemovalInput {
  placements: readonly Placement[];
  newPrivate: string;
  /** Held in memory only for the refusal probe; absent when finishing a crashed run. */
  oldPrivate?: string;
  open: OpenTarget;
  options: RotateOptions;
}

/**
 * Steps 5 and 6 on every server: remove the old key's lines through the new key, then prove the
 * old key is refused by logging in with it. Never throws; each server's outcome is returned and
 * the trail gets one event (an alert when an old line is left or still accepted).
 */
export async function completeOldKeyRemoval(
  deps: Deps,
  old: ServiceKey,
  rotationId: number,
  input: RemovalInput,
): Promise<ServerRotationResult[]> {
  const results: ServerRotationResult[] = [];
  for (const { installation, server } of input.placements) {
    const login = installation.login;
    try {
      const { login: serviceUser, sudo } = serviceLogin(server);
      await withTarget(input.open, server, input.newPrivate, (t) =>
        removeKeyByBody(t, login, old.publicKey, { sudo: login !== serviceUser && sudo }),
      );
    } catch (error) {
      results.push({ server: server.name, login, ok: false, step: 'remove-old', error: describe(error) });
      continue;
    }
    if (input.oldPrivate !== undefined) {
      const refused = await probeRefused(input.open, server, input.oldPrivate);
      if (refused !== true) {
        results.push({ server: server.name, login, ok: false, step: 'confirm-refused', error: refused });
        continue;
      }
    }
    await markInstallationRemoved(deps.sql, installation.id, deps.clock.now());
    results.push({ server: server.name, login, ok: true });
  }
  await withTx(deps.sql, async (tx) => {
    const problems = results.filter((r) => !r.ok);
    await finishRotation(
      tx,
      rotationId,
      'done',
      deps.clock.now(),
      problems.length ? problems.map((p) => `${p.server}: ${p.error}`).join('; ') : null,
    );
    await recordRotationFinished(
      tx,
      deps,
      old,
      rotationId,
      results,
      input.options,
      input.oldPrivate !== undefined,
    );
  });
  return results;
}

/** True when a fresh login with `privateKey` is refused; otherwise what happened instead. */
async function probeRefused(open: OpenTarget, server: Server, privateKey: string): Promise<true | string> {
  try {
    await withTarget(open, server, privateKey, (t) => t.exec(['true'], { timeoutMs: 30_000 }));
    return 'the old key still logs in (it may also be listed in another authorized keys file)';
  } catch (error) {
    if (classifyTargetError(error) === 'auth-failed') return true;
    return `could not confirm the old key is refused: ${describe(error)}`;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message.slice(0, 500) : String(error).slice(0, 500);
}
