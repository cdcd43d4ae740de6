import { AppError } from '../../lib/errors.js';
import {
  type AccessRequest,
  type Grant,
  insertGrant,
  nextCertificateSerial,
  setGrantCertificate,
  setGrantExpiry,
} from '../../storage/access.js';
import type { Queryable, Tx } from '../../storage/db.js';
import { insertGrantServers, listLiveRevokedKeys, moveGrantServers } from '../../storage/grant-servers.js';
import { getProjectById } from '../../storage/inventory.js';
import { copyTicketLinks } from '../../storage/tickets.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { certificateKeyId, loadOrCreateUserCa, signUserCertificate } from './certificate.js';
import { directMessage, grantWorkItem, threadText, windowText } from './notify.js';
import { accessPolicy } from './policy.js';
import { userPublicKeys } from './ports.js';
import { ACCESS_REQUEST_SUBJECT } from './request.js';

/**
 * Grants: created in the transaction that approves the request (the engine's hook) or opens a
 * break-glass, with one `pending` row per server. Nothing touches a server here: the rows are
 * installed after the commit by commands/access/work.ts, so a crash in between loses nothing.
 */
export function grantTag(grantId: number): string {
  return `warden-grant-${grantId}`;
}

/** `YYYYMMDDHHMMSSZ`, the UTC form OpenSSH reads in `expiry-time` (floored: never outlive the grant). */
export function opensshTime(at: Date): string {
  return `${at.toISOString().slice(0, 19).replace(/[-:T]/g, '')}Z`;
}

/**
 * The authorized_keys line for a grant: OpenSSH itself refuses the key after `expiry-time`, even
 * when Warden is down. Only the key's type and base64 are kept from the registered line; its
 * comment becomes the grant's name. Nothing here comes from free text: the login and patterns are
 * validated, the key was parsed when it was registered.
 */
export function grantKeyLine(grant: Pick<Grant, 'id' | 'publicKey' | 'expiresAt' | 'fromPatterns'>): string {
  const [type, blob] = grant.publicKey.trim().split(/\s+/);
  if (!type || !blob || !/^[A-Za-z0-9@.-]+$/.test(type) || !/^[A-Za-z0-9+/]+=*$/.test(blob)) {
    throw new AppError('bad_request', `grant #${grant.id} carries a public key that is not one OpenSSH line`);
  }
  const options = [`expiry-time="${opensshTime(grant.expiresAt)}"`];
  if (grant.fromPatterns) options.push(`from="${grant.fromPatterns}"`);
  return `${options.join(',')} ${type} ${blob} grant-${grant.id}`;
}

/** Refuse a certificate grant while the same key sits on the project's revocation list. */
export async function assertKeyNotRevoked(
  sql: Queryable,
  projectId: number,
  fingerprint: string,
  now: Date,
): Promise<void> {
  const live = await listLiveRevokedKeys(sql, projectId, now);
  const hit = live.find((k) => k.keyFingerprint === fingerprint);
  if (hit) {
    throw new AppError(
      'conflict',
      `your key ${fingerprint} was revoked on this project's servers (grant #${hit.grantId}) until ${hit.validUntil.toISOString()}; register a new key with \`keys add\` and ask again`,
    );
  }
}

/** The key may have been removed or handed over since the request: never grant a key its owner gave up. */
async function assertKeyStillOwned(sql: Queryable, userId: number, fingerprint: string): Promise<void> {
  const keys = await userPublicKeys(sql, userId);
  if (!keys.some((k) => k.fingerprint === fingerprint)) {
    throw new AppError(
      'conflict',
      `the requester no longer has the key ${fingerprint} registered, so nothing was granted; they need to ask again with a current key`,
    );
  }
}

async function issueCertificate(tx: Tx, deps: Deps, grant: Grant, actor: string) {
  const ca = await loadOrCreateUserCa(tx, deps, actor);
  const serial = await nextCertificateSerial(tx);
  const keyId = certificateKeyId(grant.id, grant.ticket);
  const certificate = signUserCertificate(ca, {
    publicKey: grant.publicKey,
    login: grant.login,
    validFrom: grant.startsAt,
    validUntil: grant.expiresAt,
    serial,
    keyId,
  });
  await setGrantCertificate(tx, grant.id, { serial, keyId, certificate });
  return { serial, keyId, certificate, caFingerprint: ca.fingerprint };
}

function certificateMessage(deps: Deps, grant: Grant, certificate: string) {
  const url = `${deps.config.publicUrl.replace(/\/$/, '')}/api/v1/grants/${grant.id}/certificate`;
  return directMessage(grant.requesterId, {
    visibility: 'private',
    tone: 'success',
    header: `Your SSH certificate for grant #${grant.id}`,
    text: `Save this line as the certificate next to your private key (for ~/.ssh/id_ed25519 that is ~/.ssh/id_ed25519-cert.pub), then log in as ${grant.login}. It is valid ${windowText(grant.startsAt, grant.expiresAt)}.\n${certificate}`,
    context: [`Also available from the API: GET ${url}`],
  });
}

export interface CreateGrantInput {
  request: AccessRequest;
  /** The approval whose thread tells the grant's story (the review, for a break-glass). */
  approvalId: number | null;
  actor: string;
}

/** Create the grant of an approved (or break-glass) request, in the caller's transaction. */
export async function createGrant(tx: Tx, deps: Deps, input: CreateGrantInput): Promise<Grant> {
  const { request } = input;
  const now = deps.clock.now();
  const project = await getProjectById(tx, request.projectId);
  if (!project) throw new AppError('not_found', `project #${request.projectId} no longer exists`);
  const policy = accessPolicy(project);
  const startsAt =
    request.requestedStart && request.requestedStart > now ? request.requestedStart : new Date(now);
  const expiresAt = new Date(startsAt.getTime() + request.durationMs);
  if (request.mode === 'certificate') {
    await assertKeyNotRevoked(tx, request.projectId, request.keyFingerprint, now);
  }
  await assertKeyStillOwned(tx, request.requesterId, request.keyFingerprint);
  const grant = await insertGrant(tx, {
    requestId: request.id,
    requesterId: request.requesterId,
    projectId: request.projectId,
    approvalId: input.approvalId,
    login: request.login,
    mode: request.mode,
    publicKey: request.publicKey,
    keyFingerprint: request.keyFingerprint,
    keyId: request.keyId,
    fromPatterns: policy.from,
    ticket: request.ticket,
    emergency: request.emergency,
    startsAt,
    expiresAt,
    createdAt: now,
  });
  await insertGrantServers(tx, {
    grantId: grant.id,
    serverIds: request.serverIds,
    tag: grantTag(grant.id),
    // a certificate needs nothing per grant on the servers: they trust the CA
    state: request.mode === 'authorized-keys' ? 'pending' : 'installed',
    at: now,
  });
  // The grant's events (granted, expired, revoked) go to the request's ticket as comments too.
  await copyTicketLinks(tx, {
    from: { type: ACCESS_REQUEST_SUBJECT, id: String(request.id) },
    to: { type: 'grant', id: String(grant.id) },
    at: now,
  });
  const cert = request.mode === 'certificate' ? await issueCertificate(tx, deps, grant, input.actor) : null;
  const window = windowText(startsAt, expiresAt);
  const how =
    request.mode === 'certificate'
      ? `A certificate (serial ${cert!.serial}) was sent to the requester.`
      : `The key is being added to ${request.serverIds.length} server${request.serverIds.length === 1 ? '' : 's'}; OpenSSH refuses it after ${opensshTime(expiresAt)}.`;
  await recordEvent(
    tx,
    deps,
    {
      actor: input.actor,
      action: 'access.granted',
      subject: { type: 'grant', id: String(grant.id) },
      projectId: grant.projectId,
      data: {
        requestId: request.id,
        login: grant.login,
        mode: grant.mode,
        servers: request.serverIds,
        startsAt: startsAt.toISOString(),
        expiresAt: expiresAt.toISOString(),
        ticket: grant.ticket,
        keyFingerprint: grant.keyFingerprint,
        emergency: grant.emergency,
        ...(cert
          ? { certSerial: cert.serial, certKeyId: cert.keyId, caFingerprint: cert.caFingerprint }
          : {}),
      },
    },
    [
      ...threadText(
        input.approvalId,
        grant.projectId,
        `Grant #${grant.id}: ${grant.login} for ${window}. ${how}`,
        'success',
      ),
      ...(cert
        ? [certificateMessage(deps, { ...grant, certificate: cert.certificate }, cert.certificate)]
        : []),
    ],
    request.mode === 'authorized-keys' ? [grantWorkItem(grant.id)] : [],
  );
  return {
    ...grant,
    ...(cert ? { certSerial: cert.serial, certKeyId: cert.keyId, certificate: cert.certificate } : {}),
  };
}

/** Lengthen an active grant after its extension was approved, in the caller's transaction. */
export async function extendGrant(
  tx: Tx,
  deps: Deps,
  input: { grant: Grant; request: AccessRequest; approvalId: number; actor: string },
): Promise<Grant> {
  const { grant, request } = input;
  const now = deps.clock.now();
  if (grant.status !== 'active') {
    throw new AppError(
      'conflict',
      `grant #${grant.id} is ${grant.status}, so it cannot be extended; ask for new access instead`,
    );
  }
  await assertKeyStillOwned(tx, grant.requesterId, grant.keyFingerprint);
  const base = grant.expiresAt > now ? grant.expiresAt : now;
  const expiresAt = new Date(base.getTime() + request.durationMs);
  await setGrantExpiry(tx, grant.id, expiresAt);
  const extended: Grant = { ...grant, expiresAt };
  let cert: Awaited<ReturnType<typeof issueCertificate>> | null = null;
  if (grant.mode === 'authorized-keys') {
    // rewrite each line with the new expiry-time (an add replaces the line carrying the tag)
    await moveGrantServers(tx, {
      grantId: grant.id,
      from: ['installed', 'failed', 'pending'],
      to: 'pending',
      at: now,
    });
  } else {
    cert = await issueCertificate(tx, deps, extended, input.actor);
  }
  const text = `Grant #${grant.id} extended by extension request #${request.id}: it now ends ${windowText(grant.startsAt, expiresAt).split(' → ')[1]}.`;
  await recordEvent(
    tx,
    deps,
    {
      actor: input.actor,
      action: 'access.extended',
      subject: { type: 'grant', id: String(grant.id) },
      projectId: grant.projectId,
      data: {
        requestId: request.id,
        previousExpiresAt: grant.expiresAt.toISOString(),
        expiresAt: expiresAt.toISOString(),
        ticket: request.ticket,
        ...(cert ? { certSerial: cert.serial, certKeyId: cert.keyId } : {}),
      },
    },
    [
      ...threadText(grant.approvalId, grant.projectId, text, 'success'),
      ...(input.approvalId !== grant.approvalId
        ? threadText(input.approvalId, grant.projectId, text, 'success')
        : []),
      ...(cert ? [certificateMessage(deps, extended, cert.certificate)] : []),
    ],
    grant.mode === 'authorized-keys' ? [grantWorkItem(grant.id)] : [],
  );
  return cert
    ? { ...extended, certSerial: cert.serial, certKeyId: cert.keyId, certificate: cert.certificate }
    : extended;
}
