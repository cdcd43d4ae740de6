import { randomBytes } from 'node:crypto';
import { classifyTargetError } from '../../integrations/targets/errors.js';
import type { Target } from '../../integrations/targets/types.js';
import { AppError } from '../../lib/errors.js';
import { withTx } from '../../storage/db.js';
import { getServersByNames, type Server } from '../../storage/inventory.js';
import {
  beatRotation,
  claimRotation,
  finishRotation,
  getRunningRotation,
} from '../../storage/key-rotations.js';
import {
  getServiceKey,
  type KeyInstallation,
  listLiveInstallations,
  type ServiceKey,
} from '../../storage/keys.js';
import type { Deps } from '../deps.js';
import { type OpenTarget, serviceLogin, sshTargetFor, unsealServiceKey, withTarget } from './connect.js';
import { alertRotationFailed, recordRotationStarted } from './rotate-report.js';
import { completeOldKeyRemoval, switchToNewKey } from './rotate-switch.js';
import { generateEd25519 } from './service.js';

/**
 * Rotation of one service key without ever locking Warden out:
 *
 *   1. generate a new key pair (in memory);
 *   2. on every server holding the key, through a connection made with the OLD key, add the new
 *      public key to the login's authorized_keys (tagged, so it can be taken back);
 *   3. open a NEW connection with the NEW key and run a check;
 *   4. switch: seal the new private key into the secret, register the new generation, retire the
 *      old one (one transaction);
 *   5. through a connection made with the new key, remove the old key's lines;
 *   6. try to log in with the old key and expect to be refused.
 *
 * Any failure before 4 leaves the old key as it was (the half-added new line is removed again
 * when possible) and raises an alert on the trail and in the project's security channel. A
 * failure after 4 cannot lock Warden out (the new key was proven); it is reported as an old key
 * still in place. A run that dies mid-way is cleaned up or finished by the next one
 * (rotate-recover.ts).
 */
export interface RotationContext {
  server: Server;
  login: string;
  /** The connection made with the old key, to add the new one (open while the hook runs). */
  oldTarget?: Target;
}

/** Test seams between the steps; production passes none. A hook that throws fails the step. */
export interface RotationHooks {
  afterAdd?(ctx: RotationContext): Promise<void>;
  beforeVerify?(ctx: RotationContext): Promise<void>;
  beforeSwitch?(): Promise<void>;
  afterSwitch?(): Promise<void>;
}

export interface RotateOptions {
  /** How the trail names who asked: `job:keys-rotate`, `user:alice`. */
  actor: string;
  trigger: 'schedule' | 'manual';
  openTarget?: OpenTarget;
  hooks?: RotationHooks;
  requestId?: string;
}

export type RotationStep = 'connect' | 'add' | 'verify' | 'switch' | 'remove-old' | 'confirm-refused';

export interface ServerRotationResult {
  server: string;
  login: string;
  ok: boolean;
  step?: RotationStep;
  error?: string;
}

export interface RotationOutcome {
  keyId: number;
  fingerprint: string;
  /** rotated: all done; old-key-remains: switched, but an old line could not be proven gone. */
  status: 'rotated' | 'old-key-remains' | 'failed' | 'skipped';
  newKeyId?: number;
  newFingerprint?: string;
  servers: ServerRotationResult[];
  /** For failed and skipped: why, for people. */
  reason?: string;
}

/** Placements of a key with their servers, refusing what rotation cannot handle. */
export async function placementsOf(
  deps: Pick<Deps, 'sql'>,
  key: ServiceKey,
): Promise<{ installation: KeyInstallation; server: Server }[]> {
  const installations = await listLiveInstallations(deps.sql, [key.id]);
  const servers = await getServersByNames(deps.sql, [...new Set(installations.map((i) => i.serverName))]);
  const byId = new Map(servers.map((s) => [s.id, s]));
  return installations.map((installation) => ({ installation, server: byId.get(installation.serverId)! }));
}

export function describeError(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}

/** Rotate service key `keyId` now (see the module comment). Never throws for a server failure. */
export async function rotateServiceKey(
  deps: Deps,
  keyId: number,
  options: RotateOptions,
): Promise<RotationOutcome> {
  const open = options.openTarget ?? sshTargetFor;
  const hooks = options.hooks ?? {};
  const key = await getServiceKey(deps.sql, keyId);
  if (!key || key.kind !== 'service') throw new AppError('not_found', `There is no service key #${keyId}.`);
  const base = { keyId, fingerprint: key.fingerprint, servers: [] as ServerRotationResult[] };
  if (key.retiredAt) return { ...base, status: 'skipped', reason: 'the key was already replaced' };
  const running = await getRunningRotation(deps.sql, keyId);
  if (running)
    return { ...base, status: 'skipped', reason: `rotation #${running.id} of this key is already running` };
  const placements = await placementsOf(deps, key);
  if (placements.length === 0) {
    return { ...base, status: 'skipped', reason: 'the key is not installed on any server Warden knows' };
  }

  const oldPrivate = await unsealServiceKey(deps, key.id);
  const pair = generateEd25519(`warden-service ${deps.clock.now().toISOString().slice(0, 10)}`);
  const tag = `service-${randomBytes(6).toString('hex')}`;
  const rotationId = await withTx(deps.sql, async (tx) => {
    const id = await claimRotation(
      tx,
      { keyId, tag, newFingerprint: pair.fingerprint, trigger: options.trigger },
      deps.clock.now(),
    );
    if (id !== undefined)
      await recordRotationStarted(tx, deps, key, id, pair.fingerprint, placements, options);
    return id;
  });
  if (rotationId === undefined) {
    return { ...base, status: 'skipped', reason: 'another run claimed this key first' };
  }

  // Steps 2 and 3, server by server. `added` remembers where the new line went, to take it back.
  const added: { server: Server; login: string }[] = [];
  const results: ServerRotationResult[] = [];
  let failure: { server: Server; login: string; step: RotationStep; error: unknown } | undefined;
  for (const { installation, server } of placements) {
    const login = installation.login;
    let step: RotationStep = 'connect';
    try {
      const { login: serviceUser } = serviceLogin(server);
      await withTarget(open, server, oldPrivate, async (oldTarget) => {
        step = 'add';
        await oldTarget.addAuthorizedKey(login, pair.publicKey, tag);
        added.push({ server, login });
        await hooks.afterAdd?.({ server, login, oldTarget });
      });
      step = 'verify';
      await hooks.beforeVerify?.({ server, login });
      await withTarget(open, server, pair.privateKey, async (newTarget) => {
        const check = await newTarget.exec(['id', '-un'], { timeoutMs: 30_000 });
        if (check.exitCode !== 0) {
          throw new AppError(
            'integration',
            `the check command failed with the new key (exit ${check.exitCode})`,
          );
        }
        // Only the key's own login is checked: another login (through sudo) answers with its name.
        if (login === serviceUser && check.stdout.trim() !== login) {
          throw new AppError(
            'integration',
            `the new key logged in as "${check.stdout.trim()}", not ${login}`,
          );
        }
      });
      results.push({ server: server.name, login, ok: true });
      await beatRotation(deps.sql, rotationId, deps.clock.now());
    } catch (error) {
      // The edit script ran but failed its own check: a tagged line may be there; take it back too.
      if ((step as RotationStep) === 'add' && classifyTargetError(error) === 'command-failed')
        added.push({ server, login });
      failure = { server, login, step, error };
      results.push({ server: server.name, login, ok: false, step, error: describeError(error) });
      break;
    }
  }

  if (!failure) {
    try {
      await hooks.beforeSwitch?.();
      const newKeyId = await switchToNewKey(deps, key, rotationId, pair, tag, placements, options);
      await hooks.afterSwitch?.();
      const removal = await completeOldKeyRemoval(deps, key, rotationId, {
        placements,
        newPrivate: pair.privateKey,
        oldPrivate,
        open,
        options,
      });
      return {
        ...base,
        status: removal.every((r) => r.ok) ? 'rotated' : 'old-key-remains',
        newKeyId,
        newFingerprint: pair.fingerprint,
        servers: removal,
      };
    } catch (error) {
      // Only a failure before the switch committed lands here with the old key still current.
      const current = await getServiceKey(deps.sql, keyId);
      if (current?.retiredAt) throw error;
      failure = {
        server: placements[0]!.server,
        login: placements[0]!.installation.login,
        step: 'switch',
        error,
      };
      results.push({ server: '(all)', login: '', ok: false, step: 'switch', error: describeError(error) });
    }
  }

  // Before the switch: take the new line back wherever it went, and prove the old key still works.
  const rollback: { server: string; newLineRemoved: boolean; oldKeyWorks: boolean; error?: string }[] = [];
  for (const { server, login } of added) {
    let newLineRemoved = false;
    let oldKeyWorks = false;
    let error: string | undefined;
    try {
      await withTarget(open, server, oldPrivate, async (t) => {
        oldKeyWorks = (await t.exec(['true'], { timeoutMs: 30_000 })).exitCode === 0;
        await t.removeAuthorizedKey(login, tag);
        newLineRemoved = true;
      });
    } catch (e) {
      error = `${classifyTargetError(e)}: ${describeError(e)}`;
    }
    rollback.push({ server: server.name, newLineRemoved, oldKeyWorks, ...(error ? { error } : {}) });
  }
  const reason = `${failure!.step} failed on ${failure!.server.name}: ${describeError(failure!.error)}`;
  await withTx(deps.sql, async (tx) => {
    await finishRotation(tx, rotationId, 'failed', deps.clock.now(), reason);
    await alertRotationFailed(tx, deps, key, {
      rotationId,
      tag,
      failure: failure!,
      rollback,
      placements,
      options,
    });
  });
  return { ...base, status: 'failed', servers: results, reason };
}
