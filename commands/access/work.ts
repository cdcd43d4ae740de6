import type { Notification } from '../../bot/chat/model.js';
import { isAppError } from '../../lib/errors.js';
import { type Grant, type GrantServerState, getGrant } from '../../storage/access.js';
import { withTx } from '../../storage/db.js';
import {
  claimGrantWork,
  finishGrantWork,
  type GrantWork,
  listLiveRevokedKeys,
  serverNamesByIds,
} from '../../storage/grant-servers.js';
import { getProjectById, getServersByNames, type Server } from '../../storage/inventory.js';
import { insertInstallation, listLiveInstallations, markInstallationRemoved } from '../../storage/keys.js';
import type { OutboxItem } from '../../storage/outbox.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { CA_INSTALL_KIND, deliverCaInstall, eachLimited, pushCaFiles } from './ca-install.js';
import { grantKeyLine } from './grant.js';
import { securityPost, threadText } from './notify.js';
import { accessPolicy } from './policy.js';
import { targetFor } from './ports.js';

/**
 * The after-commit half of access: install and remove grant keys on servers. It reads the
 * grant_servers rows that are due, claims them under a lease, acts through each server's Target
 * and records what happened; a crash anywhere leaves rows that the next run (the outbox kick or the
 * minute job) picks up again. Adding a key replaces the line carrying the grant's tag and removing
 * one checks that none is left, so doing a step twice is harmless.
 */
export interface GrantWorkResult {
  installed: number;
  removed: number;
  failed: number;
}

const LEASE_MS = 5 * 60_000;
const BATCH = 50;
const MAX_ROUNDS = 20;
const CONCURRENCY = 8;

function backoffMs(attempts: number): number {
  return Math.min(15 * 60_000, 30_000 * 2 ** Math.min(attempts, 10));
}

function messageOf(error: unknown): string {
  const text = isAppError(error) || error instanceof Error ? error.message : String(error);
  return text.slice(0, 500);
}

interface Outcome {
  row: GrantWork;
  server: string;
  to: GrantServerState;
  error: string | null;
}

async function serverById(deps: Deps, id: number): Promise<Server | undefined> {
  const name = (await serverNamesByIds(deps.sql, [id])).get(id);
  return name === undefined ? undefined : (await getServersByNames(deps.sql, [name]))[0];
}

async function act(deps: Deps, grant: Grant, row: GrantWork, server: Server): Promise<GrantServerState> {
  const target = await targetFor(deps, server);
  if (row.state !== 'removing') {
    await target.addAuthorizedKey(grant.login, grantKeyLine(grant), row.tag);
    return 'installed';
  }
  if (grant.mode === 'authorized-keys') {
    // the script fails unless no line carries the tag afterwards: that is the "check it is gone"
    await target.removeAuthorizedKey(grant.login, row.tag);
    return 'removed';
  }
  const project = await getProjectById(deps.sql, grant.projectId);
  const policy = accessPolicy(project);
  const keys = await listLiveRevokedKeys(deps.sql, grant.projectId, deps.clock.now());
  await pushCaFiles(target, policy.ca, { caPublicKey: null, revokedKeys: keys.map((k) => k.publicKey) });
  return 'removed';
}

/** Keep the key registry's view of where the key is (keys status, the audit report) in step. */
async function trackInstallation(
  deps: Deps,
  grant: Grant,
  row: GrantWork,
  to: GrantServerState,
): Promise<void> {
  if (grant.mode !== 'authorized-keys' || grant.keyId === null) return;
  try {
    const now = deps.clock.now();
    const live = (await listLiveInstallations(deps.sql, [grant.keyId])).filter(
      (i) => i.serverId === row.serverId && i.login === grant.login,
    );
    if (to === 'installed' && live.length === 0) {
      await insertInstallation(
        deps.sql,
        { keyId: grant.keyId, serverId: row.serverId, login: grant.login, tag: row.tag, verifiedAt: now },
        now,
      );
    }
    if (to === 'removed') {
      for (const i of live.filter((l) => l.tag === row.tag))
        await markInstallationRemoved(deps.sql, i.id, now);
    }
  } catch (error) {
    // the grant itself is right on the server; only the registry's copy lags
    deps.log.warn({ err: error, grantId: grant.id }, 'could not record the key installation in the registry');
  }
}

async function handleGrant(deps: Deps, grantId: number, rows: GrantWork[], result: GrantWorkResult) {
  const grant = await getGrant(deps.sql, grantId);
  const outcomes: Outcome[] = [];
  await eachLimited(rows, CONCURRENCY, async (row) => {
    const server = await serverById(deps, row.serverId);
    let to: GrantServerState;
    let error: string | null = null;
    try {
      if (!grant || !server) throw new Error('the grant or server no longer exists');
      to = await act(deps, grant, row, server);
      await trackInstallation(deps, grant, row, to);
    } catch (err) {
      error = messageOf(err);
      to = row.state === 'removing' ? 'removing' : 'failed';
    }
    const now = deps.clock.now();
    await finishGrantWork(deps.sql, {
      grantId: row.grantId,
      serverId: row.serverId,
      from: row.state,
      to,
      at: now,
      error,
      nextAttemptAt: error ? new Date(now.getTime() + backoffMs(row.attempts)) : now,
      countAttempt: error !== null,
    });
    outcomes.push({ row, server: server?.name ?? `#${row.serverId}`, to, error });
  });
  if (!grant) return;
  const installed = outcomes.filter((o) => o.to === 'installed').map((o) => o.server);
  const removed = outcomes.filter((o) => o.to === 'removed').map((o) => o.server);
  const failed = outcomes.filter((o) => o.error !== null);
  result.installed += installed.length;
  result.removed += removed.length;
  result.failed += failed.length;
  await recordOutcome(deps, grant, { installed, removed, failed });
}

async function recordOutcome(
  deps: Deps,
  grant: Grant,
  o: { installed: string[]; removed: string[]; failed: Outcome[] },
): Promise<void> {
  const lines: string[] = [];
  if (o.installed.length) lines.push(`Key added for ${grant.login} on ${o.installed.join(', ')}.`);
  if (o.removed.length) {
    lines.push(
      grant.mode === 'authorized-keys'
        ? `Key removed from ${o.removed.join(', ')} and checked gone.`
        : `Revocation list pushed to ${o.removed.join(', ')}: the certificate is refused there.`,
    );
  }
  // Only the first failure of a row is told; retries that fail again stay on the trail.
  const fresh = o.failed.filter((f) => f.row.attempts === 0);
  for (const f of fresh) {
    lines.push(
      `Could not ${f.row.state === 'removing' ? 'remove the key from' : 'add the key on'} ${f.server}: ${f.error} Warden retries.`,
    );
  }
  const notifications: Notification[] = lines.length
    ? threadText(
        grant.approvalId,
        grant.projectId,
        `Grant #${grant.id}: ${lines.join(' ')}`,
        fresh.length ? 'warning' : 'info',
      )
    : [];
  const removalFailures = fresh.filter((f) => f.row.state === 'removing');
  if (removalFailures.length) {
    const until =
      grant.mode === 'authorized-keys'
        ? ` OpenSSH still refuses the key after ${grant.expiresAt.toISOString()}.`
        : ` The certificate stays valid there until ${grant.expiresAt.toISOString()}.`;
    notifications.push(
      securityPost(grant.projectId, {
        visibility: 'public',
        tone: 'error',
        header: `Grant #${grant.id}: access could not be taken away`,
        text: `Warden could not remove ${grant.login}'s access from ${removalFailures.map((f) => f.server).join(', ')}.${until} It keeps retrying.`,
      }),
    );
  }
  await withTx(deps.sql, (tx) =>
    recordEvent(
      tx,
      deps,
      {
        actor: 'job:grants',
        action: 'access.servers-updated',
        subject: { type: 'grant', id: String(grant.id) },
        projectId: grant.projectId,
        data: {
          installed: o.installed,
          removed: o.removed,
          failed: o.failed.map((f) => ({
            server: f.server,
            step: f.row.state,
            error: f.error,
            attempt: f.row.attempts + 1,
          })),
        },
      },
      notifications,
    ),
  );
}

/**
 * Do every due install and removal (of one grant, or of all), round after round until nothing is
 * due. Failures are recorded on their rows and retried later with backoff; this never throws for
 * a server's failure.
 */
export async function runGrantWork(deps: Deps, options: { grantId?: number } = {}): Promise<GrantWorkResult> {
  const result: GrantWorkResult = { installed: 0, removed: 0, failed: 0 };
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const claimed = await claimGrantWork(deps.sql, {
      now: deps.clock.now(),
      leaseMs: LEASE_MS,
      limit: BATCH,
      grantId: options.grantId,
    });
    if (claimed.length === 0) break;
    const byGrant = new Map<number, GrantWork[]>();
    for (const row of claimed) byGrant.set(row.grantId, [...(byGrant.get(row.grantId) ?? []), row]);
    for (const [grantId, rows] of byGrant) await handleGrant(deps, grantId, rows, result);
  }
  if (result.installed + result.removed + result.failed > 0) deps.kickOutbox?.();
  return result;
}

/**
 * The outbox deliverer for channel `access`: a grant's work right after the transaction that made
 * it due committed. Register it in the outbox worker's deliverers as `access`; `getDeps` is read at
 * delivery time, so the deliverer can be made before the deps that hold the worker's kick.
 */
export function createAccessDeliverer(getDeps: () => Deps) {
  return {
    async deliver(item: OutboxItem): Promise<Record<string, unknown>> {
      // `ca install` queues its server work on this channel too (commands/access/ca-install.ts)
      if (item.kind === CA_INSTALL_KIND) return deliverCaInstall(getDeps(), item);
      const grantId = Number(item.payload.grantId);
      if (!Number.isSafeInteger(grantId) || grantId < 1) return { skipped: 'no grant id' };
      return { ...(await runGrantWork(getDeps(), { grantId })) };
    },
  };
}
