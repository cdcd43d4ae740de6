import { withTx } from '../../storage/db.js';
import { listServers, type Server } from '../../storage/inventory.js';
import { firstGlobalAdmin, listServiceKeySecrets } from '../../storage/key-rotations.js';
import { insertInstallation, listLiveInstallations } from '../../storage/keys.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { sshKeySecretNames } from '../scanning/target-factory.js';
import { serviceLogin } from './connect.js';
import { adoptServiceKey } from './service.js';

/**
 * Brings the scanning core's service keys into the registry. The target factory finds a server's
 * key as the secret `ssh-key:<server>`, else `ssh-key:<account>`, else `ssh-key:default`; every
 * such secret in use becomes a registered service key (owner: the secret's owner, else the first
 * global admin) installed for the server's login, so it gets an owner, a status and rotation.
 * Runs before each rotation run; idempotent.
 */
export interface SyncResult {
  adopted: number;
  placed: number;
  problems: string[];
}

function loginOf(server: Pick<Server, 'connection'>): string {
  return serviceLogin(server).login;
}

export async function syncServiceKeys(deps: Deps, options: { actor: string }): Promise<SyncResult> {
  const result: SyncResult = { adopted: 0, placed: 0, problems: [] };
  const secrets = await listServiceKeySecrets(deps.sql);
  if (secrets.length === 0) return result;
  const byName = new Map(secrets.map((s) => [s.name, s]));
  const servers = await listServers(deps.sql, { projectIds: null, provider: 'ssh', limit: 100_000 });
  const placements = new Map<number, Server[]>();
  for (const server of servers) {
    const secret = sshKeySecretNames(server)
      .map((n) => byName.get(n))
      .find((s) => s !== undefined);
    if (!secret) continue;
    placements.set(secret.id, [...(placements.get(secret.id) ?? []), server]);
  }
  for (const secret of secrets) {
    const onServers = placements.get(secret.id) ?? [];
    if (onServers.length === 0) continue;
    try {
      await withTx(deps.sql, async (tx) => {
        if (secret.liveKeyId === null) {
          const ownerId = secret.ownerId ?? (await firstGlobalAdmin(tx));
          if (ownerId === undefined) {
            result.problems.push(
              `${secret.name}: no owner (the secret names none and there is no global admin)`,
            );
            return;
          }
          await adoptServiceKey(tx, deps, {
            secretId: secret.id,
            ownerId,
            purpose: `Warden service key ${secret.name}`,
            placements: onServers.map((s) => ({ serverId: s.id, login: loginOf(s) })),
            actor: options.actor,
          });
          result.adopted += 1;
          return;
        }
        const live = await listLiveInstallations(tx, [secret.liveKeyId]);
        const missing = onServers.filter(
          (s) => !live.some((i) => i.serverId === s.id && i.login === loginOf(s)),
        );
        if (missing.length === 0) return;
        const at = deps.clock.now();
        for (const s of missing) {
          await insertInstallation(
            tx,
            { keyId: secret.liveKeyId, serverId: s.id, login: loginOf(s), tag: null, verifiedAt: null },
            at,
          );
        }
        await recordEvent(tx, deps, {
          actor: options.actor,
          action: 'key.placements-recorded',
          subject: { type: 'key', id: String(secret.liveKeyId) },
          data: { secret: secret.name, servers: missing.map((s) => `${loginOf(s)}@${s.name}`) },
        });
        result.placed += missing.length;
      });
    } catch (error) {
      result.problems.push(`${secret.name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return result;
}
