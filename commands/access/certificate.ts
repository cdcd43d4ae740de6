import { generateKeyPairSync } from 'node:crypto';
import sshpk from 'sshpk';
import { AppError } from '../../lib/errors.js';
import type { Queryable, Tx } from '../../storage/db.js';
import { usersWithRoles } from '../../storage/users.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { registerKey } from '../keys/register.js';

/**
 * Warden's SSH user certificate authority. Its private key is made once, on first use, sealed
 * with the vault (AES-256-GCM envelope) in the `secrets` table, and owned by the first admin; it
 * never leaves the process in the clear. It signs the requester's own public key: principals = the
 * login, validity = the grant's window, key id = `grant-<id> ticket <KEY>`.
 */
export const USER_CA_SECRET = 'ssh-user-ca';
const CA_CONTEXT = 'ssh-user-ca';

export interface UserCa {
  privateKey: sshpk.PrivateKey;
  /** `ssh-ed25519 AAAA… warden-user-ca`: what servers list in TrustedUserCAKeys. */
  publicKey: string;
  fingerprint: string;
}

interface SecretRow {
  sealed: string;
}

function openCa(deps: Pick<Deps, 'vault'>, sealed: string): UserCa {
  const privateKey = sshpk.parsePrivateKey(deps.vault.openText(sealed, CA_CONTEXT), 'pem');
  const pub = privateKey.toPublic();
  pub.comment = 'warden-user-ca';
  return {
    privateKey,
    publicKey: pub.toString('ssh'),
    fingerprint: pub.fingerprint('sha256').toString(),
  };
}

/** The CA if it exists; undefined before the first certificate grant or `ca install`. */
export async function loadUserCa(sql: Queryable, deps: Pick<Deps, 'vault'>): Promise<UserCa | undefined> {
  const [row] = await sql<SecretRow[]>`select sealed from secrets where name = ${USER_CA_SECRET}`;
  return row ? openCa(deps, row.sealed) : undefined;
}

/**
 * The CA, created inside `tx` when missing (on the trail, never with key material). Two callers
 * racing both insert with ON CONFLICT DO NOTHING and then read the one that won.
 */
export async function loadOrCreateUserCa(tx: Tx, deps: Deps, actor: string): Promise<UserCa> {
  const existing = await loadUserCa(tx, deps);
  if (existing) return existing;
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const [owner] = await usersWithRoles(tx, ['admin'], null);
  const inserted = await tx`
    insert into secrets (name, purpose, owner_id, sealed, created_at)
    values (${USER_CA_SECRET}, 'ssh-user-ca', ${owner?.id ?? null}, ${deps.vault.seal(pem, CA_CONTEXT)},
            ${deps.clock.now()})
    on conflict (name) do nothing returning id`;
  const ca = await loadUserCa(tx, deps);
  if (!ca) throw new AppError('internal', 'the SSH user CA could not be stored; try again');
  if (inserted.length === 1) {
    // the key registry gives the CA its one owner (the first admin); without an admin yet it
    // stays in `secrets` only, owned by nobody, and the event says so
    if (owner) {
      await registerKey(tx, deps, {
        kind: 'ca',
        ownerId: owner.id,
        purpose: 'Warden SSH user CA (signs access grant certificates)',
        publicKey: ca.publicKey,
        secretId: (inserted[0] as { id: number }).id,
        actor,
      });
    }
    await recordEvent(tx, deps, {
      actor,
      action: 'access.ca-created',
      subject: { type: 'secret', id: USER_CA_SECRET },
      data: { fingerprint: ca.fingerprint, owner: owner?.handle ?? null, keyType: 'ed25519' },
    });
  }
  return ca;
}

export interface CertificateRequest {
  /** The requester's public key, one OpenSSH line. */
  publicKey: string;
  login: string;
  validFrom: Date;
  validUntil: Date;
  serial: number;
  keyId: string;
}

function serialBuffer(serial: number): Buffer {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64BE(BigInt(serial));
  return buf;
}

/**
 * A certificate starts this much before its grant: a server whose clock runs a little behind
 * Warden's would otherwise refuse it as "not yet valid" in its first minutes.
 */
export const CLOCK_SKEW_MS = 5 * 60_000;

// OpenSSH counts whole seconds (sshpk rounds to the nearest): floor so a certificate never outlives its grant.
function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

// What an interactive session needs; no agent, X11 or port forwarding unless a project asks later.
const EXTENSIONS = ['permit-pty', 'permit-user-rc'];

/** Sign a user certificate; returns the `…-cert-v01@openssh.com AAAA… <key id>` line. */
export function signUserCertificate(ca: UserCa, request: CertificateRequest): string {
  let subjectKey: sshpk.Key;
  try {
    subjectKey = sshpk.parseKey(request.publicKey, 'ssh');
  } catch (cause) {
    throw new AppError('bad_request', 'the registered public key does not parse; register it again', {
      cause,
    });
  }
  // sshpk writes the OpenSSH format from these fields; key id and extensions are set on the
  // format's signature block and the certificate is signed again so they are covered.
  const cert = sshpk.createCertificate(
    sshpk.identityForUser(request.login),
    subjectKey,
    sshpk.identityForUser('warden-user-ca'),
    ca.privateKey,
    {
      validFrom: wholeSeconds(request.validFrom.getTime() - CLOCK_SKEW_MS),
      validUntil: wholeSeconds(request.validUntil.getTime()),
      serial: serialBuffer(request.serial),
    },
  );
  const block = (cert as unknown as { signatures: { openssh: Record<string, unknown> } }).signatures.openssh;
  block.keyId = request.keyId;
  block.exts = EXTENSIONS.map((name) => ({ critical: false, name, data: Buffer.alloc(0) }));
  cert.signWith(ca.privateKey);
  return `${cert.toString('openssh').split(' ').slice(0, 2).join(' ')} ${request.keyId.replace(/\s+/g, '_')}`;
}

/** The key id Warden puts in a grant's certificate (shown in sshd's log on each login). */
export function certificateKeyId(grantId: number, ticket: string): string {
  return `grant-${grantId} ticket ${ticket}`;
}
