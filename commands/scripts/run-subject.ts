import { z } from 'zod';
import type { ApprovalRequest } from '../../storage/approvals.js';
import type { Tx } from '../../storage/db.js';
import {
  closePendingRunServers,
  lockRun,
  type RunRow,
  type RunStatus,
  setRunStatus,
} from '../../storage/script-runs.js';
import { getScriptVersionById } from '../../storage/scripts.js';
import type { ApprovalHook, ApprovalSubject } from '../approvals/subjects.js';
import { recordEvent } from '../audit/trail.js';
import { runRef, SCRIPT_RUN_SUBJECT } from './render.js';
import { queueRunEvent } from './run.js';

/**
 * The approval hooks of a high-risk run (subject `script-run`). They run in the engine's
 * transaction: an approval queues the run (its start item goes to the outbox in the same commit),
 * a denial, expiry or cancellation ends it without touching a server.
 */
const HookData = z.object({ runId: z.number().int().positive() });

async function lockRunOf(tx: Tx, approval: ApprovalRequest): Promise<RunRow | undefined> {
  const { runId } = HookData.parse(approval.details.data);
  return lockRun(tx, runId);
}

function end(to: Extract<RunStatus, 'denied' | 'expired' | 'cancelled'>): ApprovalHook {
  return async (tx, deps, approval, context) => {
    const run = await lockRunOf(tx, approval);
    if (!run || run.status !== 'awaiting-approval') return;
    const now = deps.clock.now();
    await setRunStatus(tx, run.id, {
      from: ['awaiting-approval'],
      to,
      at: now,
      error: `approval #${approval.id} ${to}`,
    });
    await closePendingRunServers(tx, run.id, { status: 'cancelled', error: null, at: now });
    await recordEvent(tx, deps, {
      actor: context.actor,
      action: `script-run.${to}`,
      subject: runRef(run.id),
      projectId: run.projectId,
      data: { runId: run.id, script: run.scriptName, version: run.version, approvalId: approval.id },
    });
  };
}

export const scriptRunSubject: ApprovalSubject = {
  type: SCRIPT_RUN_SUBJECT,
  async onApproved(tx, deps, approval, context) {
    const run = await lockRunOf(tx, approval);
    // Cancelled by its requester while the approval was being decided: nothing to start.
    if (!run || run.status !== 'awaiting-approval') return;
    await setRunStatus(tx, run.id, { from: ['awaiting-approval'], to: 'queued', at: deps.clock.now() });
    const version = await getScriptVersionById(tx, run.versionId);
    await queueRunEvent(tx, deps, {
      run: { ...run, status: 'queued' },
      version: { risk: version?.risk ?? 'high' },
      requester: run.requestedRef.replace(/^user:/, ''),
      actor: context.actor,
      action: 'script-run.approved',
      data: { approvalId: approval.id, approvedBy: context.decisions.map((d) => d.approverHandle) },
    });
  },
  onDenied: end('denied'),
  onExpired: end('expired'),
  onCancelled: end('cancelled'),
};
