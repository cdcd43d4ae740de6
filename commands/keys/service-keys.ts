import sshpk from 'sshpk';
import { z } from 'zod';
import { AppError } from '../../lib/errors.js';
import { withTx } from '../../storage/db.js';
import { getServerByName } from '../../storage/inventory.js';
import { getKeySecretByName, insertKeySecret } from '../../storage/key-rotations.js';
import { listLiveServiceKeys } from '../../storage/keys.js';
import type { User } from '../../storage/users.js';
import type { Deps } from '../deps.js';
import { actorFacts, actorRef, type CallMeta } from '../inventory/scope.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import { keyPolicy } from './policy.js';
import { adoptServiceKey, createServiceKey, type ServiceKeyPlacement } from './service.js';
import { MIN_RSA_BITS } from './validate.js';

/**
 * Warden's own SSH keys, as the target factory looks them up: the secret `ssh-key:<scope>` where
 * the scope is a server name, an account name or `default`. Made here (generated or imported),
 * sealed with the secret's name as vault context, and registered with one owner so rotation
 * finds them. The private key never leaves this function: not in a response, the log or the trail.
 */
export const ServiceKeyScope = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
    'a scope is a server name, an account name or "default": letters, digits, dots, dashes or underscores',
  );

export const ServiceKeyCreate = z
  .object({
    scope: ServiceKeyScope,
    privateKey: z
      .string()
      .max(16_384, 'a private key is at most 16 KB')
      .optional()
      .describe('an OpenSSH or PEM private key to import (unencrypted); omit to generate an ed25519 key'),
  })
  .strict();
export type ServiceKeyCreate = z.infer<typeof ServiceKeyCreate>;

/** Who makes the key: an API caller, or the CLI operator naming the owner. */
export type ServiceKeyAdmin = Actor | { cli: true; owner: User };

export interface ServiceKeyInfo {
  scope: string;
  fingerprint: string;
  keyType: string;
  owner: string;
  createdAt: Date;
  nextRotationAt: Date | null;
}

const SECRET_PREFIX = 'ssh-key:';

/** Parse an imported key (keeping the reason generic: a parser's message could quote the input). */
function normalizePrivateKey(text: string): string {
  let key: sshpk.PrivateKey;
  try {
    key = sshpk.parsePrivateKey(text, 'auto');
  } catch {
    throw new AppError(
      'bad_request',
      'privateKey is not an unencrypted OpenSSH or PEM private key; export it with `ssh-keygen -p -N ""` on a copy, or omit it to have Warden generate one',
    );
  }
  if (!['ed25519', 'ecdsa', 'rsa'].includes(key.type)) {
    throw new AppError('bad_request', `${key.type} keys are not accepted; use ed25519, ECDSA or RSA`);
  }
  if (key.type === 'rsa' && key.size < MIN_RSA_BITS) {
    throw new AppError(
      'bad_request',
      `RSA keys need at least ${MIN_RSA_BITS} bits; this one has ${key.size}`,
    );
  }
  // Stored in OpenSSH format whatever it came in: the one every SSH client here reads.
  return key.toString('ssh-private');
}

/**
 * @example
 * const { publicKey } = await createWardenServiceKey(deps, actor, { scope: 'default' });
 * // append publicKey to ~/.ssh/authorized_keys of the login Warden uses
 */
export async function createWardenServiceKey(
  deps: Deps,
  admin: ServiceKeyAdmin,
  input: unknown,
  meta: CallMeta = {},
): Promise<{ scope: string; publicKey: string; fingerprint: string; imported: boolean }> {
  const isCli = 'cli' in admin;
  if (!isCli) authorize(admin, 'keys:manage', null);
  const parsed = ServiceKeyCreate.safeParse(input);
  if (!parsed.success) {
    // Built by hand so the zod issue (which may carry the input) never reaches the response.
    const paths = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || 'body'))];
    throw new AppError('bad_request', `the service key request is not valid: check ${paths.join(', ')}`, {
      details: {
        issues: parsed.error.issues.map((i) => ({
          path: i.path.join('.'),
          message: i.path[0] === 'privateKey' ? 'privateKey is not acceptable' : i.message,
        })),
      },
    });
  }
  const { scope } = parsed.data;
  const privateKey =
    parsed.data.privateKey === undefined ? undefined : normalizePrivateKey(parsed.data.privateKey);
  const secretName = `${SECRET_PREFIX}${scope}`;
  const owner = isCli ? admin.owner : admin.user;
  const common = {
    ownerId: owner.id,
    purpose: `warden service key for ${scope}`,
    actor: isCli ? 'cli' : actorRef(admin),
    requestId: meta.requestId,
  };
  const { key, publicKey } = await withTx(deps.sql, async (tx) => {
    const placements: ServiceKeyPlacement[] = [];
    const server = await getServerByName(tx, scope);
    const login = server?.connection?.user;
    if (server && typeof login === 'string') placements.push({ serverId: server.id, login });
    if (privateKey === undefined) {
      return createServiceKey(tx, deps, { ...common, placements, secretName });
    }
    if (await getKeySecretByName(tx, secretName)) {
      throw new AppError('conflict', `a key for ${scope} already exists (${secretName}); rotate it instead`);
    }
    const secretId = await insertKeySecret(
      tx,
      {
        name: secretName,
        purpose: common.purpose,
        ownerId: owner.id,
        sealed: deps.vault.seal(privateKey, secretName),
      },
      deps.clock.now(),
    );
    const adopted = await adoptServiceKey(tx, deps, { ...common, secretId, placements });
    return { key: adopted, publicKey: adopted.publicKey };
  });
  deps.log.info(
    {
      scope,
      fingerprint: key.fingerprint,
      imported: privateKey !== undefined,
      ...(isCli ? {} : actorFacts(admin)),
    },
    'service key stored',
  );
  return { scope, publicKey, fingerprint: key.fingerprint, imported: privateKey !== undefined };
}

export async function listWardenServiceKeys(deps: Deps, actor: Actor): Promise<ServiceKeyInfo[]> {
  authorize(actor, 'keys:manage', null);
  const now = deps.clock.now();
  return (await listLiveServiceKeys(deps.sql))
    .filter((k) => k.secretName.startsWith(SECRET_PREFIX))
    .map((k) => ({
      scope: k.secretName.slice(SECRET_PREFIX.length),
      fingerprint: k.fingerprint,
      keyType: k.keyType,
      owner: k.ownerHandle,
      createdAt: k.createdAt,
      nextRotationAt: keyPolicy(k, [], now).nextRotationAt,
    }));
}
