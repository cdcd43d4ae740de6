import { AppError } from '../../lib/errors.js';
import { endGrant, type Grant, lockGrant } from '../../storage/access.js';
import { type Tx, withTx } from '../../storage/db.js';
import { insertRevokedCertificate, moveGrantServers } from '../../storage/grant-servers.js';
import { getProjectById } from '../../storage/inventory.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { type Actor, can } from '../rbac/authorize.js';
import { grantWorkItem, threadText } from './notify.js';

/**
 * Early revocation. The grant ends in one transaction with its server rows moved to `removing`;
 * the keys come off (and are checked gone), or for a certificate its key goes into every server's
 * RevokedKeys list, after the commit (commands/access/work.ts).
 */
export function parseGrantId(text: string | undefined): number {
  const value = (text ?? '')
    .trim()
    .replace(/^#/, '')
    .replace(/^grant-/i, '');
  if (!/^[0-9]{1,12}$/.test(value) || Number(value) < 1) {
    throw new AppError(
      'bad_request',
      `"${(text ?? '').slice(0, 20)}" is not a grant number; type \`access list\` to see your grants`,
    );
  }
  return Number(value);
}

const MAX_REASON = 500;

/** End an active grant in the caller's transaction (revoke command, a denied break-glass review). */
export async function revokeGrantTx(
  tx: Tx,
  deps: Deps,
  input: { grant: Grant; actor: string; reason: string | null },
): Promise<Grant> {
  const { grant } = input;
  const now = deps.clock.now();
  if (
    !(await endGrant(tx, grant.id, { status: 'revoked', at: now, by: input.actor, reason: input.reason }))
  ) {
    throw new AppError('conflict', `grant #${grant.id} already ended; nothing was changed`);
  }
  if (grant.mode === 'certificate' && grant.expiresAt > now) {
    await insertRevokedCertificate(tx, {
      grantId: grant.id,
      projectId: grant.projectId,
      publicKey: grant.publicKey,
      keyFingerprint: grant.keyFingerprint,
      serial: grant.certSerial,
      keyId: grant.certKeyId,
      validUntil: grant.expiresAt,
      revokedAt: now,
      revokedBy: input.actor,
    });
  }
  // authorized-keys: take the line off; certificate: push the RevokedKeys list to each server
  const moved = await moveGrantServers(tx, {
    grantId: grant.id,
    from: ['installed', 'pending', 'failed'],
    to: 'removing',
    at: now,
  });
  const how =
    grant.mode === 'certificate'
      ? `its certificate (serial ${grant.certSerial ?? '?'}) goes into the RevokedKeys list of ${moved} server${moved === 1 ? '' : 's'}`
      : `the key is being removed from ${moved} server${moved === 1 ? '' : 's'}`;
  await recordEvent(
    tx,
    deps,
    {
      actor: input.actor,
      action: 'access.revoked',
      subject: { type: 'grant', id: String(grant.id) },
      projectId: grant.projectId,
      data: {
        reason: input.reason,
        mode: grant.mode,
        servers: moved,
        certSerial: grant.certSerial,
        expiresAt: grant.expiresAt.toISOString(),
      },
    },
    threadText(
      grant.approvalId,
      grant.projectId,
      `Grant #${grant.id} revoked by ${input.actor.replace(/^user:/, '')}${input.reason ? ` (${input.reason.replace(/\s+/g, ' ').slice(0, 200)})` : ''}: ${how}.`,
      'warning',
    ),
    [grantWorkItem(grant.id)],
  );
  return { ...grant, status: 'revoked', endedAt: now, endedBy: input.actor, endReason: input.reason };
}

/**
 * `/warden access revoke <grant>`: the grant's requester, an approver of its project (or a holder
 * of access:revoke there) or an admin may end it early.
 */
export async function revokeGrant(
  deps: Deps,
  input: { actor: Actor; grantId: number; reason?: string | null },
): Promise<Grant> {
  const reason = input.reason?.trim() || null;
  if (reason && reason.length > MAX_REASON) {
    throw new AppError(
      'bad_request',
      `keep the reason under ${MAX_REASON} characters (it has ${reason.length})`,
    );
  }
  const revoked = await withTx(deps.sql, async (tx) => {
    const grant = await lockGrant(tx, input.grantId);
    const project = grant ? await getProjectById(tx, grant.projectId) : undefined;
    const { actor } = input;
    const allowed =
      grant &&
      (grant.requesterId === actor.user.id ||
        can(actor, 'access:approve', grant.projectId) ||
        can(actor, 'access:revoke', grant.projectId));
    if (!grant || !allowed) {
      // the same answer for "no such grant" and "not yours": grant numbers say nothing to outsiders
      throw new AppError(
        grant ? 'forbidden' : 'not_found',
        grant
          ? `you cannot revoke grant #${input.grantId}: only its requester, an approver of ${project?.slug ?? 'its project'} or an admin can`
          : `there is no grant #${input.grantId}; type \`access list\` to see grants`,
      );
    }
    if (grant.status !== 'active') {
      throw new AppError(
        'conflict',
        `grant #${grant.id} already ${grant.status === 'expired' ? 'expired' : 'was revoked'}; nothing to revoke`,
      );
    }
    return revokeGrantTx(tx, deps, { grant, actor: `user:${actor.user.handle}`, reason });
  });
  deps.kickOutbox?.();
  return revoked;
}
