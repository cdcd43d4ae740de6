import { randomUUID } from 'node:crypto';
import type { Notification } from '../../bot/chat/model.js';
import { AppError, isAppError } from '../../lib/errors.js';
import { withTx } from '../../storage/db.js';
import { listLiveRevokedKeys, serverNamesByIds } from '../../storage/grant-servers.js';
import { getProjectById, getProjectBySlug, getServersByNames, listServers } from '../../storage/inventory.js';
import type { OutboxItem } from '../../storage/outbox.js';
import { type OutboxWrite, recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { quoteForMessage } from '../grammar.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import { type CaServerResult, installCaOnServer, pushCaFiles } from './ca-script.js';
import { loadOrCreateUserCa, loadUserCa } from './certificate.js';
import { ACCESS_OUTBOX_CHANNEL } from './notify.js';
import { accessPolicy } from './policy.js';
import { targetFor } from './ports.js';

export {
  CA_FILES_SCRIPT,
  type CaServerResult,
  type CaServerState,
  pushCaFiles,
  revokedKeysFile,
} from './ca-script.js';

/**
 * `/warden ca install <project>`: make every server of a project trust Warden's SSH user CA and
 * its revocation list. The command only records the request and queues the work on the `access`
 * outbox channel (a chat command must answer within seconds); the deliverer does a few servers
 * per item, each inside the outbox lease, and replies in the install's thread with each server's
 * result. The script is idempotent, so an item delivered twice reports "already current".
 */
const SERVERS_PER_ITEM = 8;
export const CA_INSTALL_KIND = 'ca-install';

/** Run `fn` over `items`, at most `limit` at a time. */
export async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  });
  await Promise.all(workers);
}

export interface CaInstallQueued {
  project: string;
  caFingerprint: string;
  /** How many servers the install was queued for. */
  servers: number;
  /** The install's subject id: its message in the project's channel, and its thread. */
  run: string;
}

/** Queue the CA install for every server of the project; answers at once. */
export async function requestCaInstall(
  deps: Deps,
  actor: Actor,
  projectSlug: string,
): Promise<CaInstallQueued> {
  const slug = projectSlug.toLowerCase();
  const project = /^[a-z0-9][a-z0-9-]{0,62}$/.test(slug) ? await getProjectBySlug(deps.sql, slug) : undefined;
  if (!project) {
    throw new AppError(
      'not_found',
      `there is no project ${quoteForMessage(projectSlug)}; type \`projects\` to list them`,
    );
  }
  authorize(actor, 'keys:manage', project);
  const who = `user:${actor.user.handle}`;
  const run = `${project.slug}:${randomUUID()}`;
  const queued = await withTx(deps.sql, async (tx) => {
    const ca = await loadOrCreateUserCa(tx, deps, who);
    const servers = await listServers(tx, { projectIds: null, projectId: project.id, limit: 1000 });
    const ids = servers.map((s) => s.id);
    const items: OutboxWrite[] = [];
    for (let i = 0; i < ids.length; i += SERVERS_PER_ITEM) {
      items.push({
        channel: ACCESS_OUTBOX_CHANNEL,
        kind: CA_INSTALL_KIND,
        payload: { projectId: project.id, serverIds: ids.slice(i, i + SERVERS_PER_ITEM), run, actor: who },
        // one install at a time per project, so two never edit a server's drop-in together
        orderingKey: `ca-install:${project.id}`,
      });
    }
    const text = servers.length
      ? `Installing Warden's SSH user CA (${ca.fingerprint}) on ${servers.length} server${servers.length === 1 ? '' : 's'} of ${project.slug}, as ${actor.user.handle} asked. Each server's result follows in this thread.`
      : `${project.slug} has no servers yet: nothing to install the CA on.`;
    const notifications: Notification[] = [
      {
        kind: 'subject-message',
        subject: { type: 'ca-install', id: run },
        projectId: project.id,
        reply: { visibility: 'public', header: `SSH user CA for ${project.slug}`, text },
      },
    ];
    await recordEvent(
      tx,
      deps,
      {
        actor: who,
        action: 'access.ca-install-requested',
        subject: { type: 'ca-install', id: run },
        projectId: project.id,
        data: { caFingerprint: ca.fingerprint, servers: servers.map((s) => s.name), run },
      },
      notifications,
      items,
    );
    return { project: project.slug, caFingerprint: ca.fingerprint, servers: servers.length, run };
  });
  deps.kickOutbox?.();
  return queued;
}

function messageOf(error: unknown): string {
  const text = isAppError(error) || error instanceof Error ? error.message : String(error);
  return text.slice(0, 500);
}

/**
 * Pushes of the revocation list after the install, at most: a grant revoked while the install ran
 * has its own push, which the install's older list may have overwritten; reading the list again
 * and pushing while it changed leaves the newest list on the server.
 */
const SAME_LIST_TRIES = 3;

/** The outbox deliverer's half: install the CA on one item's servers and report in the thread. */
export async function deliverCaInstall(deps: Deps, item: OutboxItem): Promise<Record<string, unknown>> {
  const projectId = Number(item.payload.projectId);
  const run = String(item.payload.run ?? '');
  const ids = Array.isArray(item.payload.serverIds) ? item.payload.serverIds.map(Number) : [];
  const project = Number.isSafeInteger(projectId) ? await getProjectById(deps.sql, projectId) : undefined;
  if (!project || !run) return { skipped: 'the project no longer exists' };
  const ca = await loadUserCa(deps.sql, deps);
  if (!ca) throw new AppError('unavailable', 'the SSH user CA is missing; run `ca install` again');
  const policy = accessPolicy(project);
  const names = [...(await serverNamesByIds(deps.sql, ids)).values()];
  // a server moved to another project since the request is not this project's to change
  const servers = (await getServersByNames(deps.sql, names)).filter((s) => s.projectId === project.id);
  const results: CaServerResult[] = [];
  await eachLimited(servers, SERVERS_PER_ITEM, async (server) => {
    try {
      const target = await targetFor(deps, server);
      let pushed = (await listLiveRevokedKeys(deps.sql, project.id, deps.clock.now())).map(
        (k) => k.publicKey,
      );
      const result = await installCaOnServer(target, policy.ca, {
        caPublicKey: ca.publicKey,
        revokedKeys: pushed,
      });
      for (let i = 0; i < SAME_LIST_TRIES; i++) {
        const now = (await listLiveRevokedKeys(deps.sql, project.id, deps.clock.now())).map(
          (k) => k.publicKey,
        );
        if (now.join('\n') === pushed.join('\n')) break;
        await pushCaFiles(target, policy.ca, { caPublicKey: null, revokedKeys: now });
        pushed = now;
      }
      results.push(result);
    } catch (error) {
      results.push({ server: server.name, state: 'failed', detail: messageOf(error) });
    }
  });
  results.sort((a, b) => a.server.localeCompare(b.server));
  await recordResults(
    deps,
    { projectId: project.id, run, actor: String(item.payload.actor ?? 'system') },
    results,
  );
  return { servers: results.map((r) => `${r.server}:${r.state}`) };
}

const STATE_TEXT: Record<CaServerResult['state'], string> = {
  installed: 'installed',
  'already-current': 'already current',
  'needs-manual-include': 'needs a manual Include',
  failed: 'failed',
};

async function recordResults(
  deps: Deps,
  input: { projectId: number; run: string; actor: string },
  results: CaServerResult[],
): Promise<void> {
  const subject = { type: 'ca-install', id: input.run };
  const trouble = results.some((r) => r.state === 'failed' || r.state === 'needs-manual-include');
  const reply = {
    visibility: 'public' as const,
    tone: trouble ? ('warning' as const) : ('success' as const),
    text: results.length ? 'CA install results:' : 'None of these servers belongs to the project any more.',
    items: results.map((r) => ({ text: `${r.server}: ${STATE_TEXT[r.state]}`, detail: r.detail })),
  };
  await withTx(deps.sql, (tx) =>
    recordEvent(
      tx,
      deps,
      {
        actor: 'job:ca-install',
        action: 'access.ca-installed',
        subject,
        projectId: input.projectId,
        data: { run: input.run, requestedBy: input.actor, servers: results },
      },
      [{ kind: 'thread-reply', subject, projectId: input.projectId, reply }],
    ),
  );
}
