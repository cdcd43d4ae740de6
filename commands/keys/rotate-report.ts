import type { Notification, Reply } from '../../bot/chat/model.js';
import type { Tx } from '../../storage/db.js';
import type { Server } from '../../storage/inventory.js';
import type { KeyInstallation, ServiceKey } from '../../storage/keys.js';
import { recordEvent, type TrailDeps } from '../audit/trail.js';
import type { RotateOptions, RotationStep, ServerRotationResult } from './rotate.js';

/**
 * What rotation writes on the trail and tells the channels. Events carry `data.exec`, the
 * convention the audit report reads for "which commands Warden ran where and for whom":
 * `{ server, argv0, script?, login?, for? }` (or a list of them).
 */
type Placement = { installation: KeyInstallation; server: Server };

function projectIdsOf(placements: readonly Placement[], key: ServiceKey): (number | null)[] {
  const ids = new Set<number | null>(placements.map((p) => p.server.projectId));
  if (key.projectId !== null) ids.add(key.projectId);
  return [...ids];
}

function securityPosts(projectIds: readonly (number | null)[], reply: Reply): Notification[] {
  return projectIds.map((projectId) => ({ kind: 'channel-post', projectId, channelRole: 'security', reply }));
}

export async function recordRotationStarted(
  tx: Tx,
  deps: TrailDeps,
  key: ServiceKey,
  rotationId: number,
  newFingerprint: string,
  placements: readonly Placement[],
  options: RotateOptions,
): Promise<void> {
  await recordEvent(tx, deps, {
    actor: options.actor,
    action: 'key.rotation.started',
    subject: { type: 'key', id: String(key.id) },
    projectId: key.projectId ?? placements[0]?.server.projectId ?? null,
    requestId: options.requestId,
    data: {
      rotation: rotationId,
      trigger: options.trigger,
      fingerprint: key.fingerprint,
      newFingerprint,
      servers: placements.map((p) => `${p.installation.login}@${p.server.name}`),
    },
  });
}

export interface FailureReport {
  rotationId: number;
  tag: string;
  failure: { server: Server; login: string; step: RotationStep; error: unknown };
  rollback: { server: string; newLineRemoved: boolean; oldKeyWorks: boolean; error?: string }[];
  placements: readonly Placement[];
  options: RotateOptions;
}

/** A rotation failed before the switch: trail event and a security-channel alert per project. */
export async function alertRotationFailed(
  tx: Tx,
  deps: TrailDeps,
  key: ServiceKey,
  report: FailureReport,
): Promise<void> {
  const { failure, rollback } = report;
  const error = failure.error instanceof Error ? failure.error.message : String(failure.error);
  const stuck = rollback.filter((r) => !r.newLineRemoved);
  const oldBroken = rollback.filter((r) => !r.oldKeyWorks);
  const lines = [
    `Rotating Warden's service key ${key.fingerprint} (${key.purpose}) failed at the ${failure.step} step on ${failure.server.name}: ${error}`,
    'Nothing was switched: Warden keeps using the old key.',
  ];
  if (rollback.length > 0 && oldBroken.length === 0)
    lines.push('Warden checked that the old key still logs in.');
  if (oldBroken.length > 0) {
    lines.push(
      `Could not confirm the old key still works on: ${oldBroken.map((r) => r.server).join(', ')}. Check these servers now.`,
    );
  }
  if (stuck.length > 0) {
    lines.push(
      `The half-added new key line (marked warden:${report.tag}) may remain on: ${stuck.map((r) => r.server).join(', ')}; it is harmless (its private key was never stored) but should be removed.`,
    );
  }
  lines.push(`Owner: @${key.ownerHandle}. Warden retries on its next rotation run.`);
  const reply: Reply = {
    visibility: 'public',
    tone: 'error',
    header: 'Key rotation failed',
    text: lines.join('\n'),
    context: [`rotation #${report.rotationId} · key #${key.id}`],
  };
  await recordEvent(
    tx,
    deps,
    {
      actor: report.options.actor,
      action: 'key.rotation.failed',
      subject: { type: 'key', id: String(key.id) },
      projectId: key.projectId ?? failure.server.projectId,
      requestId: report.options.requestId,
      data: {
        rotation: report.rotationId,
        fingerprint: key.fingerprint,
        step: failure.step,
        server: failure.server.name,
        error: error.slice(0, 500),
        rollback,
        exec: rollback.map((r) => ({
          server: r.server,
          argv0: 'sh',
          script: 'authorized-keys add, then remove',
        })),
      },
    },
    securityPosts(projectIdsOf(report.placements, key), reply),
  );
}

/** After the switch: the rotation is done, or done with old lines that could not be proven gone. */
export async function recordRotationFinished(
  tx: Tx,
  deps: TrailDeps,
  old: ServiceKey,
  rotationId: number,
  results: readonly ServerRotationResult[],
  options: RotateOptions,
  probed: boolean,
): Promise<void> {
  const problems = results.filter((r) => !r.ok);
  const exec = results.flatMap((r) => [
    { server: r.server, argv0: 'sh', script: 'authorized-keys add', login: r.login },
    { server: r.server, argv0: 'id', login: r.login },
    { server: r.server, argv0: 'sh', script: 'authorized-keys remove', login: r.login },
  ]);
  const notifications: Notification[] = [];
  if (problems.length > 0) {
    notifications.push(
      ...securityPosts([old.projectId], {
        visibility: 'public',
        tone: 'warning',
        header: 'Old service key still in place',
        text: [
          `Warden switched to its new key, but the old key ${old.fingerprint} could not be proven gone on:`,
          ...problems.map((p) => `• ${p.login}@${p.server}: ${p.error}`),
          `Warden is not locked out. Remove the old key by hand, or ask @${old.ownerHandle} (owner) to chase it.`,
        ].join('\n'),
        context: [`rotation #${rotationId} · key #${old.id}`],
      }),
    );
  }
  await recordEvent(
    tx,
    deps,
    {
      actor: options.actor,
      action: problems.length ? 'key.rotation.old-key-remains' : 'key.rotation.completed',
      subject: { type: 'key', id: String(old.id) },
      projectId: old.projectId,
      requestId: options.requestId,
      data: {
        rotation: rotationId,
        fingerprint: old.fingerprint,
        oldKeyRefused: probed ? results.filter((r) => r.ok).map((r) => r.server) : [],
        problems: problems.map((p) => ({ server: p.server, step: p.step, error: p.error })),
        exec,
      },
    },
    notifications,
  );
}
