import { recordEvent } from '../commands/audit/trail.js';
import { verifyChain } from '../commands/audit/verify.js';
import type { Deps } from '../commands/deps.js';
import { createWardenServiceKey } from '../commands/keys/service-keys.js';
import { loadActor } from '../commands/rbac/authorize.js';
import { createToken } from '../commands/tokens/tokens.js';
import { createUserWithRole } from '../commands/users/users.js';
import { AppError } from '../lib/errors.js';
import { withTx } from '../storage/db.js';
import { firstGlobalAdmin } from '../storage/key-rotations.js';
import { lockSealedValues, updateSealedValue } from '../storage/secrets.js';
import { getUser, getUserByHandle } from '../storage/users.js';

/**
 * What the administrative CLI commands do, apart from parsing argv (bin/warden.ts). Each writes
 * its result through `io` and returns the process exit code; errors are thrown as AppError with
 * a message that says what to do.
 */
export interface CliIo {
  /** The result (a token, a verdict): what a script would capture. */
  out(line: string): void;
  /** Explanations for the person at the terminal. */
  err(line: string): void;
}

/** `warden audit verify`: walk the whole hash chain. */
export async function auditVerify(deps: Pick<Deps, 'sql'>, io: CliIo): Promise<number> {
  const report = await verifyChain(deps.sql);
  if (report.ok) {
    io.out(`ok: ${report.checked} events verified`);
    return 0;
  }
  const b = report.firstBroken!;
  io.out(`broken: event ${b.seq} (${b.problem}): ${b.detail}`);
  io.err(
    `${report.checked} events verified before the first broken one; the audit head is at event ${report.headSeq}`,
  );
  return 1;
}

export interface TokenCreateArgs {
  user: string;
  name: string;
  /** Comma-separated permission names. */
  scopes: string;
  project?: string;
  /** 30d, 12h, 90m or never. */
  expires?: string;
}

/**
 * `warden token create`: a token for `user`, limited to permissions they hold. The operator at
 * the terminal acts as that user (via 'cli'), so RBAC still decides what the token may carry.
 */
export async function tokenCreate(deps: Deps, args: TokenCreateArgs, io: CliIo): Promise<number> {
  const user = await getUserByHandle(deps.sql, args.user);
  if (!user) {
    throw new AppError(
      'not_found',
      `there is no user "${args.user}"; check the handle (the part before @ for admins)`,
    );
  }
  const actor = await loadActor(deps.sql, user, 'cli');
  const scopes = args.scopes
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const { token, info } = await createToken(deps, actor, {
    name: args.name,
    scopes,
    ...(args.project ? { projectSlug: args.project } : {}),
    ...(args.expires ? { expiresIn: args.expires } : {}),
  });
  io.out(token);
  const expires = info.expiresAt ? `expires ${info.expiresAt.toISOString()}` : 'never expires';
  const project = info.project ? `project ${info.project}` : 'every project';
  io.err(
    `created token ${info.id} "${info.name}" for ${info.owner} (${info.scopes.join(', ')}; ${project}; ${expires}). ` +
      'Store it now: it is not shown again.',
  );
  return 0;
}

export interface RewrapResult {
  total: number;
  rewrapped: number;
  keyId: string;
}

/**
 * `warden secrets rewrap`: re-wrap every sealed value under the current master key, so the
 * previous keys can be retired. All or nothing: one value no configured key opens rolls back
 * the lot, and the error names the key to add to WARDEN_MASTER_KEY_PREVIOUS.
 */
export async function rewrapSecrets(
  deps: Pick<Deps, 'sql' | 'vault' | 'clock' | 'chatPlatforms'>,
): Promise<RewrapResult> {
  const { vault } = deps;
  return withTx(deps.sql, async (tx) => {
    const values = await lockSealedValues(tx);
    let rewrapped = 0;
    for (const value of values) {
      if (!vault.needsRewrap(value.sealed)) continue;
      let sealed: string;
      try {
        sealed = vault.rewrap(value.sealed);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new AppError(
          'internal',
          `cannot re-wrap ${value.table} "${value.name}" (nothing was changed): ${reason}`,
          {
            cause: error,
          },
        );
      }
      await updateSealedValue(tx, value, sealed);
      rewrapped++;
    }
    if (rewrapped > 0) {
      await recordEvent(tx, deps, {
        actor: 'system',
        action: 'secrets.rewrapped',
        data: { keyId: vault.keyId, rewrapped, total: values.length, via: 'cli' },
      });
    }
    return { total: values.length, rewrapped, keyId: vault.keyId };
  });
}

export interface UserAddArgs {
  handle: string;
  email: string;
  name?: string;
  role?: string;
  project?: string;
}

/**
 * `warden user add`: bootstrap a user (and optionally one role binding) from the terminal, with
 * direct database access; the trail names the actor `cli`.
 */
export async function userAdd(deps: Deps, args: UserAddArgs, io: CliIo): Promise<number> {
  const user = await createUserWithRole(
    deps,
    'cli',
    { handle: args.handle, email: args.email, displayName: args.name },
    args.role ? { role: args.role, ...(args.project ? { project: args.project } : {}) } : undefined,
  );
  io.out(user.handle);
  const bound = args.role ? `; bound to ${args.role} on ${args.project ?? 'every project'}` : '';
  io.err(`created user ${user.handle} <${user.email}>${bound}`);
  return 0;
}

export interface ServiceKeyArgs {
  scope: string;
  /** The owner's handle; default the first global admin. */
  owner?: string;
  /** Import: the private key file's content. */
  privateKey?: string;
}

/** `warden service-key create|import`: prints the public key line for authorized_keys. */
export async function serviceKeyCreate(deps: Deps, args: ServiceKeyArgs, io: CliIo): Promise<number> {
  const ownerId = args.owner
    ? (await getUserByHandle(deps.sql, args.owner))?.id
    : await firstGlobalAdmin(deps.sql);
  const owner = ownerId === undefined ? undefined : await getUser(deps.sql, ownerId);
  if (!owner) {
    throw new AppError(
      'not_found',
      args.owner
        ? `there is no user "${args.owner}"; add one with \`warden user add\``
        : 'a service key needs an owner: pass --owner <handle>, or add a global admin first (`warden user add … --role admin`)',
    );
  }
  const made = await createWardenServiceKey(
    deps,
    { cli: true, owner },
    {
      scope: args.scope,
      ...(args.privateKey !== undefined ? { privateKey: args.privateKey } : {}),
    },
  );
  io.out(made.publicKey);
  io.err(
    `${made.imported ? 'imported' : 'generated'} ssh-key:${made.scope} (${made.fingerprint}), owned by ${owner.handle}. ` +
      'Add the line above to authorized_keys of the login Warden uses on the servers.',
  );
  return 0;
}
