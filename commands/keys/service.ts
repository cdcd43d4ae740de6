import { generateKeyPairSync } from 'node:crypto';
import sshpk from 'sshpk';
import { AppError } from '../../lib/errors.js';
import type { Tx } from '../../storage/db.js';
import { getKeySecret, getKeySecretByName, insertKeySecret } from '../../storage/key-rotations.js';
import { insertInstallation, type KeyRecord } from '../../storage/keys.js';
import type { TrailDeps } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { registerKey } from './register.js';

/**
 * Warden's own service keys: the private key is sealed in `secrets` (vault context = the
 * secret's name, e.g. `ssh-key:web-01`), the public key is in the registry with one owner, and
 * key_installations says which login on which server holds it.
 */
export interface GeneratedKeyPair {
  /** OpenSSH private key format (what ssh2 and OpenSSH read). */
  privateKey: string;
  /** `ssh-ed25519 AAAA… comment`. */
  publicKey: string;
  fingerprint: string;
}

/** A fresh ed25519 pair, made in memory. */
export function generateEd25519(comment: string): GeneratedKeyPair {
  const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const parsed = sshpk.parsePrivateKey(pem, 'pkcs8');
  const pub = parsed.toPublic();
  pub.comment = comment;
  return {
    privateKey: parsed.toString('ssh-private'),
    publicKey: pub.toString('ssh'),
    fingerprint: pub.fingerprint('sha256').toString(),
  };
}

/** The public key line of a private key (OpenSSH or PEM). */
export function publicKeyOf(privateKey: string, comment: string): string {
  const pub = sshpk.parsePrivateKey(privateKey, 'auto').toPublic();
  pub.comment = comment;
  return pub.toString('ssh');
}

export interface ServiceKeyPlacement {
  serverId: number;
  /** The login whose authorized_keys holds the key (the server's connection.user). */
  login: string;
  /** The `warden:<tag>` mark when Warden wrote the line; omit for a key installed by hand. */
  tag?: string | null;
}

export interface AdoptServiceKeyInput {
  /** The `secrets` row that already holds the sealed private key. */
  secretId: number;
  ownerId: number;
  purpose: string;
  projectId?: number | null;
  rotateEveryMs?: number | null;
  placements: readonly ServiceKeyPlacement[];
  actor: string;
  requestId?: string;
}

/**
 * Register a service key whose private key is already sealed in `secrets` (e.g. one an admin
 * imported), with where it is installed. Runs in the caller's transaction.
 */
export async function adoptServiceKey(
  tx: Tx,
  deps: TrailDeps & Pick<Deps, 'vault'>,
  input: AdoptServiceKeyInput,
): Promise<KeyRecord> {
  const secret = await getKeySecret(tx, input.secretId);
  if (!secret) throw new AppError('not_found', `There is no secret #${input.secretId} to adopt.`);
  let publicKey: string;
  try {
    publicKey = publicKeyOf(deps.vault.openText(secret.sealed, secret.name), 'warden-service');
  } catch (cause) {
    throw new AppError(
      'bad_request',
      `The secret ${secret.name} does not hold a private SSH key Warden can read.`,
      {
        cause,
      },
    );
  }
  const key = await registerKey(tx, deps, {
    kind: 'service',
    ownerId: input.ownerId,
    purpose: input.purpose,
    publicKey,
    secretId: secret.id,
    projectId: input.projectId ?? null,
    rotateEveryMs: input.rotateEveryMs ?? null,
    actor: input.actor,
    requestId: input.requestId,
    facts: { secret: secret.name, placements: input.placements.length },
  });
  const at = deps.clock.now();
  for (const p of input.placements) {
    await insertInstallation(
      tx,
      { keyId: key.id, serverId: p.serverId, login: p.login, tag: p.tag ?? null, verifiedAt: null },
      at,
    );
  }
  return key;
}

/**
 * Make a new service key: generate it, seal it under `secretName`, and register it. Returns the
 * public key line for whoever installs it (by hand, or through another key) on the placements.
 */
export async function createServiceKey(
  tx: Tx,
  deps: TrailDeps & Pick<Deps, 'vault'>,
  input: Omit<AdoptServiceKeyInput, 'secretId'> & { secretName: string },
): Promise<{ key: KeyRecord; publicKey: string }> {
  if (!/^ssh-key:[A-Za-z0-9][A-Za-z0-9._:@-]{0,150}$/.test(input.secretName)) {
    throw new AppError('bad_request', 'A service key secret is named ssh-key:<scope>, e.g. ssh-key:web-01.');
  }
  if (await getKeySecretByName(tx, input.secretName)) {
    throw new AppError(
      'conflict',
      `A secret named ${input.secretName} already exists; adopt it or pick another name.`,
    );
  }
  const pair = generateEd25519('warden-service');
  const secretId = await insertKeySecret(
    tx,
    {
      name: input.secretName,
      purpose: input.purpose,
      ownerId: input.ownerId,
      sealed: deps.vault.seal(pair.privateKey, input.secretName),
    },
    deps.clock.now(),
  );
  const key = await adoptServiceKey(tx, deps, { ...input, secretId });
  return { key, publicKey: key.publicKey };
}
