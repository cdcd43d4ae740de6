import { z } from 'zod';
import type { Notification, Reply } from '../../bot/chat/model.js';
import type { Deliverer } from '../../jobs/outbox-worker.js';
import { AppError, isAppError } from '../../lib/errors.js';
import type { ApprovalRequest } from '../../storage/approvals.js';
import {
  getRemediation,
  insertRemediation,
  lockRemediation,
  type RemediationRow,
  type RemediationStatus,
  setRemediationApproval,
  setRemediationStatus,
} from '../../storage/baselines.js';
import { withTx } from '../../storage/db.js';
import { getProjectById, getServerByName } from '../../storage/inventory.js';
import type { OutboxItem } from '../../storage/outbox.js';
import { getServersByIds } from '../../storage/scans.js';
import { targetFor } from '../access/ports.js';
import { openApproval } from '../approvals/open.js';
import { approvalRef } from '../approvals/state.js';
import type { ApprovalHook, ApprovalSubject } from '../approvals/subjects.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import { runBaseline, sudoAllowed } from './run.js';
import { baselineNamed, baselineSettings } from './settings.js';
import type { Baseline } from './types.js';

/**
 * Remediation commands run only after an approval. Asking writes the command as it will run (argv
 * snapshot) and opens an approval ('baseline-remediation' subject, approvers need patch:approve).
 * The approval's hook only queues the run (outbox channel 'baseline-remediation', in the same
 * commit); the deliverer runs it once after the commit, records the outcome in the approval's
 * thread and re-runs the baseline to confirm.
 */
export const REMEDIATION_SUBJECT = 'baseline-remediation';
export const REMEDIATION_CHANNEL = 'baseline-remediation';
const OUTPUT_MAX = 4000;

export interface RemediationRequest {
  server: string;
  check: string;
}

export async function requestRemediation(
  deps: Deps,
  actor: Actor,
  input: RemediationRequest,
  options: { baseline?: Baseline } = {},
): Promise<{ remediation: RemediationRow; approvalId: number; reply: Reply }> {
  const server = await getServerByName(deps.sql, input.server);
  if (!server) {
    throw new AppError(
      'not_found',
      `there is no server called ${input.server}; type \`servers\` to list them`,
    );
  }
  const project = server.projectId === null ? undefined : await getProjectById(deps.sql, server.projectId);
  authorize(actor, 'baseline:remediate', project ?? null);
  const baseline = options.baseline ?? baselineNamed(baselineSettings(project).name);
  const check = baseline.checks.find((c) => c.id === input.check);
  if (!check) {
    throw new AppError(
      'not_found',
      `the ${baseline.name} baseline has no check ${input.check}; its checks are ${baseline.checks.map((c) => c.id).join(', ')}`,
    );
  }
  if (!check.remediation) {
    throw new AppError(
      'bad_request',
      `${check.id} has no automatic remediation; fix it by hand: ${check.advice ?? check.title}`,
    );
  }
  const remediation = check.remediation;
  return withTx(deps.sql, async (tx) => {
    const row = await insertRemediation(tx, {
      serverId: server.id,
      projectId: server.projectId,
      baseline: baseline.name,
      checkId: check.id,
      argv: remediation.argv,
      risk: remediation.risk,
      requestedBy: actor.user.id,
      requestedRef: `user:${actor.user.handle}`,
      createdAt: deps.clock.now(),
    }).catch((error: unknown) => {
      if ((error as { code?: string }).code === '23505') {
        throw new AppError(
          'conflict',
          `a remediation of ${check.id} on ${server.name} is already waiting or running; see the approvals list`,
        );
      }
      throw error;
    });
    const opened = await openApproval(tx, deps, {
      subject: { type: REMEDIATION_SUBJECT, id: String(row.id) },
      projectId: server.projectId,
      requester: actor,
      permission: 'patch:approve',
      title: `Remediate "${check.title}" on ${server.name}`,
      details: [
        { label: 'Server', value: server.name },
        { label: 'Check', value: `${check.id} (level ${check.level})` },
        { label: 'Runs', value: remediation.summary },
        { label: 'Risk', value: remediation.risk },
      ],
      data: { remediationId: row.id, server: server.name, check: check.id },
    });
    await setRemediationApproval(tx, row.id, opened.request.id);
    return {
      remediation: row,
      approvalId: opened.request.id,
      reply: {
        visibility: 'private',
        tone: 'info',
        text: `Asked for approval #${opened.request.id} to remediate ${check.id} on ${server.name}. It runs once someone with patch:approve approves it.`,
      },
    };
  });
}

const HookData = z.object({ remediationId: z.number().int().positive() });

function end(to: Extract<RemediationStatus, 'denied' | 'expired' | 'cancelled'>): ApprovalHook {
  return async (tx, deps, approval) => {
    const { remediationId } = HookData.parse(approval.details.data);
    await setRemediationStatus(tx, remediationId, { from: ['awaiting-approval'], to, at: deps.clock.now() });
  };
}

export const remediationSubject: ApprovalSubject = {
  type: REMEDIATION_SUBJECT,
  async onApproved(tx, deps, approval, context) {
    const { remediationId } = HookData.parse(approval.details.data);
    const row = await lockRemediation(tx, remediationId);
    if (!row || row.status !== 'awaiting-approval') return;
    await setRemediationStatus(tx, row.id, {
      from: ['awaiting-approval'],
      to: 'approved',
      at: deps.clock.now(),
    });
    await recordEvent(
      tx,
      deps,
      {
        actor: context.actor,
        action: 'baseline.remediation-approved',
        subject: { type: REMEDIATION_SUBJECT, id: String(row.id) },
        projectId: row.projectId,
        data: { remediationId: row.id, check: row.checkId, approvalId: approval.id },
      },
      [],
      [{ channel: REMEDIATION_CHANNEL, kind: 'baseline.remediate', payload: { remediationId: row.id } }],
    );
    deps.kickOutbox?.();
  },
  onDenied: end('denied'),
  onExpired: end('expired'),
  onCancelled: end('cancelled'),
};

function threadNote(approval: Pick<ApprovalRequest, 'id' | 'projectId'>, reply: Reply): Notification {
  return { kind: 'thread-reply', subject: approvalRef(approval.id), projectId: approval.projectId, reply };
}

/** Runs an approved remediation once; a row found 'running' (a crash mid-run) is failed, never re-run. */
export async function runRemediation(
  deps: Deps,
  remediationId: number,
  options: { baseline?: Baseline } = {},
): Promise<RemediationRow | undefined> {
  const claimed = await withTx(deps.sql, async (tx) => {
    const row = await lockRemediation(tx, remediationId);
    if (!row) return undefined;
    if (row.status === 'running') {
      await setRemediationStatus(tx, row.id, {
        from: ['running'],
        to: 'failed',
        at: deps.clock.now(),
        error: 'interrupted while running; not run again automatically: check the server and ask again',
      });
      return undefined;
    }
    if (row.status !== 'approved') return undefined;
    await setRemediationStatus(tx, row.id, { from: ['approved'], to: 'running', at: deps.clock.now() });
    return row;
  });
  if (!claimed) return getRemediation(deps.sql, remediationId);
  const [server] = await getServersByIds(deps.sql, [claimed.serverId]);
  let outcome: {
    status: 'succeeded' | 'failed';
    exitCode: number | null;
    output: string;
    error: string | null;
  };
  try {
    if (!server) throw new AppError('not_found', 'the server was removed from the inventory');
    const target = await targetFor(deps, server);
    try {
      const sudo = await sudoAllowed(deps, server);
      const exec = await target.exec(claimed.argv, {
        sudo,
        timeoutMs: 5 * 60_000,
        maxOutputBytes: 64 * 1024,
      });
      const output = `${exec.stdout}${exec.stderr ? `\n${exec.stderr}` : ''}`.trim().slice(-OUTPUT_MAX);
      outcome = {
        status: exec.exitCode === 0 ? 'succeeded' : 'failed',
        exitCode: exec.exitCode,
        output,
        error:
          exec.exitCode === 0 ? null : exec.timedOut ? 'timed out' : `exit ${exec.exitCode ?? exec.signal}`,
      };
    } finally {
      await target.close().catch(() => {});
    }
  } catch (error) {
    outcome = {
      status: 'failed',
      exitCode: null,
      output: '',
      error: isAppError(error) ? error.message : String(error),
    };
  }
  await withTx(deps.sql, async (tx) => {
    await setRemediationStatus(tx, claimed.id, {
      from: ['running'],
      to: outcome.status,
      at: deps.clock.now(),
      exitCode: outcome.exitCode,
      output: outcome.output,
      error: outcome.error,
    });
    const text =
      outcome.status === 'succeeded'
        ? `Remediation of ${claimed.checkId} on ${server?.name ?? '?'} ran: ${outcome.output.split('\n').at(-1) ?? 'done'}. Re-checking the baseline.`
        : `Remediation of ${claimed.checkId} on ${server?.name ?? '?'} failed (${outcome.error}). ${outcome.output.split('\n').at(-1) ?? ''}`;
    await recordEvent(
      tx,
      deps,
      {
        actor: 'system',
        action: `baseline.remediation-${outcome.status}`,
        subject: { type: REMEDIATION_SUBJECT, id: String(claimed.id) },
        projectId: claimed.projectId,
        data: {
          remediationId: claimed.id,
          check: claimed.checkId,
          exitCode: outcome.exitCode,
          error: outcome.error,
        },
      },
      claimed.approvalId === null
        ? []
        : [
            threadNote(
              { id: claimed.approvalId, projectId: claimed.projectId },
              { visibility: 'public', tone: outcome.status === 'succeeded' ? 'success' : 'error', text },
            ),
          ],
    );
  });
  deps.kickOutbox?.();
  if (server && outcome.status === 'succeeded') {
    await runBaseline(deps, server, { triggeredBy: 'remediation', ...options }).catch((error: unknown) =>
      deps.log.warn({ err: error, server: server.name }, 'baseline re-check after remediation failed'),
    );
  }
  return getRemediation(deps.sql, claimed.id);
}

/** The outbox deliverer for channel 'baseline-remediation'; register it in bot/main.ts. */
export function createRemediationDeliverer(getDeps: () => Deps): Deliverer {
  return {
    async deliver(item: OutboxItem) {
      const { remediationId } = HookData.parse(item.payload);
      const row = await runRemediation(getDeps(), remediationId);
      return { status: row?.status ?? 'missing' };
    },
  };
}
