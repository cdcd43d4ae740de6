import type { Reply } from '../../bot/chat/model.js';
import { openChangeRequest } from '../../integrations/tickets/index.js';
import type { Tx } from '../../storage/db.js';
import type { Server } from '../../storage/inventory.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import type { BaselineCheck, CheckResult } from './types.js';

/**
 * What a drift (a check that passed and now fails) tells people: one alert to the owning
 * project's channel, and, when the project wants it, a change request to fix it. Called once
 * per drift, in the transaction that records it (the caller's state row makes "once" true).
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

export function driftReply(input: DriftInput): Reply {
  const { server, check, result } = input;
  return {
    visibility: 'public',
    tone: 'warning',
    header: `Baseline drift on ${server.name}: ${check.title}`,
    text: input.passedUntil
      ? `This check passed until ${input.passedUntil.toISOString().slice(0, 16).replace('T', ' ')} UTC and now fails.`
      : 'This check now fails.',
    fields: [
      { label: 'Check', value: `${check.id} (level ${check.level})` },
      { label: 'Seen', value: result.evidence || '(no output)' },
      ...(check.advice ? [{ label: 'Fix', value: check.advice }] : []),
    ],
    ...(check.remediation
      ? {
          buttons: [
            {
              label: 'Request remediation',
              actionId: 'baseline.remediate',
              value: JSON.stringify({ server: server.name, check: check.id }),
              style: 'primary' as const,
            },
          ],
        }
      : {}),
    context: [`${check.remediation ? `Remediation (${check.remediation.risk} risk) runs only after approval. ` : ''}Alerted once per drift.`],
  };
}

export async function sendDriftAlert(tx: Tx, deps: Deps, input: DriftInput): Promise<void> {
  const { server, check } = input;
  await recordEvent(
    tx,
    deps,
    {
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
      },
    },
    [{ kind: 'channel-post', projectId: server.projectId, reply: driftReply(input), channelRole: 'security' }],
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
        check.remediation ? `Warden can run a remediation after approval: ${check.remediation.summary}` : '',
      ]
        .filter(Boolean)
        .join('\n'),
      projectId: server.projectId,
    });
  }
}
