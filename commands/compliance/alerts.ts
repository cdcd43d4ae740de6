import type { Button, ListItem, Notification } from '../../bot/chat/model.js';
import type { ServerComplianceFacts } from '../../storage/compliance.js';
import { type AlertKind, type AlertWrite, insertAlerts } from '../../storage/compliance-alerts.js';
import type { Tx } from '../../storage/db.js';
import { recordEvent, type TrailDeps } from '../audit/trail.js';
import type { Evaluation, ReasonCode } from './rules.js';
import type { ComplianceStandards } from './standards.js';

/**
 * Change-only alerts between digests: a server whose security updates went from 0 to N, a
 * threshold crossed, a configuration baseline that drifted. Each is keyed by its episode and
 * stored in compliance_alerts in the same transaction as its trail event, so it is sent once
 * (also across replicas), to the owning project's channel, grouped per project.
 */
export interface AlertCandidate extends AlertWrite {
  serverName: string;
  /** One line for the channel. */
  text: string;
  detail?: string;
  /** What the reader can do about it from the message (a baseline drift's "Remediate"). */
  button?: Button;
}

/** Buttons on one alert message; the rest of the alerts say their command in the text. */
const MAX_BUTTONS = 5;

/** Reasons whose appearance is worth a message on its own (a new server never scanned is not). */
const ALERTING: readonly ReasonCode[] = [
  'security-overdue',
  'update-overdue',
  'key-rotation-overdue',
  'unknown-keys',
  'scan-stale',
];

const THRESHOLD_WORDS: Record<string, string> = {
  'security-overdue': 'security updates pending past the standard',
  'update-overdue': 'not updated within the alert threshold',
  'key-rotation-overdue': 'a key is past its rotation date',
  'unknown-keys': 'unknown authorized keys found',
  'scan-stale': 'scan result went stale (state unknown)',
};

/**
 * What changed for one server since the previous evaluation. Nothing fires on a server's first
 * evaluation: there is no "before" to compare with, and a first deployment must not flood the
 * channels.
 */
export function detectAlerts(
  f: ServerComplianceFacts,
  next: Evaluation,
  std: ComplianceStandards,
): AlertCandidate[] {
  const prev = f.prev;
  if (!prev) return [];
  const out: AlertCandidate[] = [];
  const base = { projectId: f.projectId, serverId: f.serverId, serverName: f.serverName };
  if (
    prev.lastGoodScanId !== null &&
    f.lastGoodScanId !== null &&
    f.lastGoodScanId !== prev.lastGoodScanId &&
    prev.openSecurity === 0 &&
    f.openSecurity > 0
  ) {
    out.push({
      ...base,
      kind: 'security-new',
      key: `security-new:${f.serverId}:${f.lastGoodScanId}`,
      data: { server: f.serverName, from: 0, to: f.openSecurity, scanId: f.lastGoodScanId },
      text: `${f.serverName}: security updates went from 0 to ${f.openSecurity}`,
      detail: `install within ${std.securityPatchDays} days to stay compliant`,
    });
  }
  const before = new Set(prev.reasons.map((r) => r.code));
  for (const r of next.reasons) {
    if (!ALERTING.includes(r.code) || before.has(r.code)) continue;
    out.push({
      ...base,
      kind: 'threshold',
      key: `threshold:${f.serverId}:${r.code}:${r.since.toISOString()}`,
      data: { server: f.serverName, reason: r.code, since: r.since.toISOString(), count: r.count ?? null },
      text: `${f.serverName} crossed a threshold: ${THRESHOLD_WORDS[r.code] ?? r.code}`,
      detail: `now ${next.state}${r.count ? ` · ${r.count} concerned` : ''}`,
    });
  }
  return out;
}

const MAX_LINES = 20;

function alertNotification(projectId: number | null, alerts: readonly AlertCandidate[]): Notification {
  const items: ListItem[] = alerts.slice(0, MAX_LINES).map((a) => ({
    text: a.text,
    ...(a.detail ? { detail: a.detail } : {}),
  }));
  const more = alerts.length - items.length;
  const buttons = alerts
    .slice(0, MAX_LINES)
    .flatMap((a) => (a.button ? [a.button] : []))
    .slice(0, MAX_BUTTONS);
  return {
    kind: 'channel-post',
    projectId,
    reply: {
      visibility: 'public',
      tone: 'warning',
      header: alerts.length === 1 ? 'Compliance alert' : `Compliance alerts: ${alerts.length} changes`,
      items,
      ...(buttons.length ? { buttons } : {}),
      context: [
        ...(more > 0 ? [`…and ${more} more; /warden compliance lists every server.`] : []),
        'Sent once per change; the daily digest has the full picture.',
      ],
    },
  };
}

/**
 * Stores and sends the alerts that are new (keys never seen before), one message per project.
 * Must run in the caller's transaction. Returns how many were new.
 */
export async function sendAlerts(
  tx: Tx,
  deps: TrailDeps,
  candidates: readonly AlertCandidate[],
  actor = 'job:compliance-evaluate',
): Promise<number> {
  if (candidates.length === 0) return 0;
  const fresh = await insertAlerts(tx, candidates, deps.clock.now());
  const byProject = new Map<number | null, AlertCandidate[]>();
  for (const c of candidates) {
    if (!fresh.has(c.key)) continue;
    fresh.delete(c.key);
    const list = byProject.get(c.projectId) ?? [];
    list.push(c);
    byProject.set(c.projectId, list);
  }
  let sent = 0;
  for (const [projectId, alerts] of byProject) {
    sent += alerts.length;
    await recordEvent(
      tx,
      deps,
      {
        actor,
        action: 'compliance.alerted',
        projectId,
        data: { alerts: alerts.map((a) => ({ kind: a.kind, server: a.serverName, key: a.key })) },
      },
      [alertNotification(projectId, alerts)],
    );
  }
  return sent;
}

/** What the baselines capability reports when a check that passed now fails. */
export interface BaselineDrift {
  serverId: number;
  serverName: string;
  projectId: number | null;
  checkId: string;
  title: string;
  /** When the check was first seen failing: the episode, so a daily rerun does not alert again. */
  failingSince: Date;
  /** A remediation ticket opened for it, if any. */
  ticket?: string;
  /** The check has an automatic fix: the alert carries a "Remediate" button (it asks for approval). */
  remediable?: boolean;
}

/**
 * Alerts a baseline drift once per episode (server, check, failingSince), in the caller's
 * transaction. Returns false when this drift was already alerted.
 *
 * @example
 *   await withTx(deps.sql, (tx) => alertBaselineDrift(tx, deps, { serverId, serverName, projectId,
 *     checkId: 'ssh-root-login', title: 'SSH root login disabled', failingSince: run.at }));
 */
export async function alertBaselineDrift(
  tx: Tx,
  deps: TrailDeps,
  drift: BaselineDrift,
  actor = 'job:baseline',
): Promise<boolean> {
  const kind: AlertKind = 'baseline-drift';
  const sent = await sendAlerts(
    tx,
    deps,
    [
      {
        kind,
        projectId: drift.projectId,
        serverId: drift.serverId,
        serverName: drift.serverName,
        key: `baseline-drift:${drift.serverId}:${drift.checkId}:${drift.failingSince.toISOString()}`,
        data: {
          server: drift.serverName,
          check: drift.checkId,
          title: drift.title,
          failingSince: drift.failingSince.toISOString(),
          ticket: drift.ticket ?? null,
        },
        text: `${drift.serverName}: baseline check "${drift.title}" (${drift.checkId}) passed before and now fails`,
        ...(drift.ticket ? { detail: `remediation ticket ${drift.ticket}` } : {}),
        ...(drift.remediable
          ? {
              button: {
                label: `Remediate ${drift.checkId} on ${drift.serverName}`,
                // commands/baselines/chat.ts routes it: it opens the remediation's approval.
                actionId: 'baseline.remediate',
                value: JSON.stringify({ server: drift.serverName, check: drift.checkId }),
              },
            }
          : {}),
      },
    ],
    actor,
  );
  return sent > 0;
}
