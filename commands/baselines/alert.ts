import { openChangeRequest } from '../../integrations/tickets/index.js';
import type { Tx } from '../../storage/db.js';
import type { Server } from '../../storage/inventory.js';
import { recordEvent } from '../audit/trail.js';
import { alertBaselineDrift } from '../compliance/alerts.js';
import type { Deps } from '../deps.js';
import type { BaselineCheck, CheckResult } from './types.js';

/**
 * What a drift (a check that passed and now fails) tells people: one change-only alert to the
 * owning project's channel (commands/compliance/alerts.ts, keyed by server, check and the moment
 * it started failing, so it fires once per drift), and, when the project wants it, a change
 * request to fix it. Called in the transaction that records the drift.
 */
export interface DriftInput {
  server: Server;
  check: BaselineCheck;
  result: CheckResult;
  passedUntil: Date | null;
  driftedAt: Date;
  openTicket: boolean;
}

export function driftKey(serverId: number, checkId: string, driftedAt: Date): string {
  return `baseline-drift:${serverId}:${checkId}:${driftedAt.toISOString()}`;
}

export async function sendDriftAlert(tx: Tx, deps: Deps, input: DriftInput): Promise<boolean> {
  const { server, check } = input;
  // The facts on the trail; the channel message is the compliance capability's change-only alert.
  await recordEvent(tx, deps, {
    actor: 'system',
    action: 'baseline.drifted',
    subject: { type: 'server', id: server.name },
    projectId: server.projectId,
    data: {
      server: server.name,
      check: check.id,
      key: driftKey(server.id, check.id, input.driftedAt),
      evidence: input.result.evidence,
      passedUntil: input.passedUntil?.toISOString() ?? null,
      remediation: check.remediation ? `baseline remediate ${server.name} ${check.id}` : null,
    },
  });
  const alerted = await alertBaselineDrift(
    tx,
    deps,
    {
      serverId: server.id,
      serverName: server.name,
      projectId: server.projectId,
      checkId: check.id,
      title: check.title,
      failingSince: input.driftedAt,
      remediable: Boolean(check.remediation),
    },
    'job:baseline',
  );
  if (input.openTicket) {
    await openChangeRequest(tx, deps, {
      subject: { type: 'baseline-drift', id: `${server.name}:${check.id}:${input.driftedAt.getTime()}` },
      summary: `Baseline drift on ${server.name}: ${check.title}`,
      description: [
        `Server: ${server.name}`,
        `Check: ${check.id} (level ${check.level}) - ${check.title}`,
        `Seen: ${input.result.evidence}`,
        check.advice ? `How to fix: ${check.advice}` : '',
        check.remediation
          ? `Warden can run a remediation after approval (/warden baseline remediate ${server.name} ${check.id}): ${check.remediation.summary}`
          : '',
      ]
        .filter(Boolean)
        .join('\n'),
      projectId: server.projectId,
    });
  }
  return alerted;
}
