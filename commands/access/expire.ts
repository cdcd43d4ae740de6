import { endGrant, lockExpiredGrants } from '../../storage/access.js';
import { withTx } from '../../storage/db.js';
import { moveGrantServers, takeRunOutRevocations } from '../../storage/grant-servers.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { grantWorkItem, threadText } from './notify.js';
import { type GrantWorkResult, runGrantWork } from './work.js';

/**
 * Grants whose time is up end here (jobs/grants-expire.ts, every minute). OpenSSH already refuses
 * an expired key by its `expiry-time` and an expired certificate by its validity, even with Warden
 * down; this takes the lines off the servers and checks they are gone, so no key lies around.
 */
export interface ExpireResult {
  expired: number[];
  work: GrantWorkResult;
}

const ACTOR = 'job:grants-expire';

export async function expireGrants(deps: Deps, options: { limit?: number } = {}): Promise<ExpireResult> {
  const expired = await withTx(deps.sql, async (tx) => {
    const now = deps.clock.now();
    const grants = await lockExpiredGrants(tx, now, options.limit ?? 200);
    for (const grant of grants) {
      await endGrant(tx, grant.id, { status: 'expired', at: now, by: ACTOR, reason: null });
      const onServers = grant.mode === 'authorized-keys';
      // a certificate dies by itself: nothing is left on the servers to take off
      const moved = await moveGrantServers(tx, {
        grantId: grant.id,
        from: ['installed', 'pending', 'failed'],
        to: onServers ? 'removing' : 'removed',
        at: now,
      });
      await recordEvent(
        tx,
        deps,
        {
          actor: ACTOR,
          action: 'access.expired',
          subject: { type: 'grant', id: String(grant.id) },
          projectId: grant.projectId,
          data: { expiresAt: grant.expiresAt.toISOString(), mode: grant.mode, servers: moved },
        },
        threadText(
          grant.approvalId,
          grant.projectId,
          `Grant #${grant.id} for ${grant.login} expired at ${grant.expiresAt.toISOString()}.${onServers ? ' Removing the key from the servers.' : ' Its certificate is no longer valid.'}`,
          'info',
        ),
        onServers ? [grantWorkItem(grant.id)] : [],
      );
    }
    // A revoked certificate that ran out no longer needs its key on the RevokedKeys lists; left
    // there, it would keep refusing that user's next certificate with the same key.
    for (const { grantId } of await takeRunOutRevocations(tx, now)) {
      const moved = await moveGrantServers(tx, { grantId, from: ['removed'], to: 'removing', at: now });
      await recordEvent(tx, deps, {
        actor: ACTOR,
        action: 'access.revocation-pruned',
        subject: { type: 'grant', id: String(grantId) },
        data: { servers: moved },
      });
    }
    return grants.map((g) => g.id);
  });
  if (expired.length) deps.kickOutbox?.();
  // Installs that came due (a requested start) and removals left over from earlier runs, too.
  const work = await runGrantWork(deps);
  return { expired, work };
}
