import { z } from 'zod';
import { AppError } from '../../lib/errors.js';
import { lockPendingForSubject } from '../../storage/approvals.js';
import type { Tx } from '../../storage/db.js';
import {
  getCurrentScriptVersion,
  getScriptVersionById,
  insertScript,
  insertScriptVersion,
  lockScriptByName,
  type ScriptVersionRow,
  setCurrentScriptVersion,
  setVersionApproval,
  type VersionApprovalState,
} from '../../storage/scripts.js';
import { openApproval } from '../approvals/open.js';
import { finishRequest, trailActor } from '../approvals/state.js';
import type { ApprovalHook, ApprovalSubject } from '../approvals/subjects.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { actorFacts } from '../inventory/scope.js';
import type { Actor } from '../rbac/authorize.js';
import { definitionHash, renderScriptFile, type ScriptDefinition } from './definition.js';
import { diffStat, unifiedDiff } from './diff.js';
import type { ParamSpec } from './params.js';

/**
 * Versions: every change to a script is a new row with its author and a unified diff from the
 * one before. A high-risk version waits for a review (approval subject `script-version`, decided by
 * holders of sop:approve) before any run may use it; a later change needs a review again.
 */
export const SCRIPT_VERSION_SUBJECT = 'script-version';
/** Who reviews high-risk versions and approves high-risk runs. */
export const SOP_APPROVE = 'sop:approve' as const;
const DIFF_PREVIEW_CHARS = 1_500;

export interface SavedVersion {
  version: ScriptVersionRow;
  /** False when the definition was identical to the current version (nothing was written). */
  changed: boolean;
  /** The review request, for a new high-risk version. */
  approvalId: number | null;
}

/** A stored version as the definition it was made from. */
export function definitionOf(v: ScriptVersionRow): ScriptDefinition {
  return {
    name: v.scriptName,
    description: v.description,
    language: v.language,
    body: v.body,
    params: v.params as ParamSpec[],
    os: v.os,
    risk: v.risk,
    timeoutMs: v.timeoutMs,
    permission: v.permission as `sop:run:${string}`,
  };
}

/**
 * Save `definition` as the script's next version, inside the caller's transaction (the script row
 * is locked, so concurrent edits get consecutive numbers). An unchanged definition writes nothing.
 */
export async function saveScriptVersion(
  tx: Tx,
  deps: Deps,
  input: { actor: Actor; definition: ScriptDefinition; source: string; requestId?: string },
): Promise<SavedVersion> {
  const { actor, definition } = input;
  const now = deps.clock.now();
  const script =
    (await lockScriptByName(tx, definition.name)) ?? (await insertScript(tx, definition.name, now));
  const current = script.currentVersionId ? await getCurrentScriptVersion(tx, definition.name) : undefined;
  const hash = definitionHash(definition);
  if (current && current.definitionHash === hash)
    return { version: current, changed: false, approvalId: null };

  const number = (current?.version ?? 0) + 1;
  const diff = unifiedDiff(
    current ? renderScriptFile(definitionOf(current)) : '',
    renderScriptFile(definition),
    {
      from: current ? `a/${definition.name} v${current.version}` : '/dev/null',
      to: `b/${definition.name} v${number}`,
    },
  );
  const approvalState: VersionApprovalState = definition.risk === 'high' ? 'pending' : 'not-needed';
  const version = await insertScriptVersion(
    tx,
    {
      scriptId: script.id,
      version: number,
      description: definition.description,
      language: definition.language,
      body: definition.body,
      params: definition.params,
      os: definition.os,
      risk: definition.risk,
      timeoutMs: definition.timeoutMs,
      permission: definition.permission,
      definitionHash: hash,
      diff,
      authorId: actor.user.id,
      author: actor.user.handle,
      source: input.source,
      approvalState,
    },
    now,
  );
  await setCurrentScriptVersion(tx, script.id, version.id, now);
  // A review still open for the version this one replaces would decide nothing: close it.
  if (current?.approvalState === 'pending') {
    const open = await lockPendingForSubject(tx, SCRIPT_VERSION_SUBJECT, String(current.id));
    if (open) {
      await finishRequest(tx, deps, open, {
        status: 'cancelled',
        actor: trailActor(actor),
        reason: `replaced by version ${number}`,
      });
    }
  }
  const stat = diffStat(diff);
  await recordEvent(tx, deps, {
    actor: trailActor(actor),
    action: current ? 'script.version-created' : 'script.created',
    subject: { type: 'script', id: definition.name },
    data: {
      script: definition.name,
      version: number,
      risk: definition.risk,
      permission: definition.permission,
      source: input.source,
      definitionHash: hash,
      linesAdded: stat.added,
      linesRemoved: stat.removed,
      review: approvalState,
      ...actorFacts(actor),
    },
    ...(input.requestId ? { requestId: input.requestId } : {}),
  });
  if (approvalState !== 'pending') return { version, changed: true, approvalId: null };

  const preview = diff.length > DIFF_PREVIEW_CHARS ? `${diff.slice(0, DIFF_PREVIEW_CHARS)}\n…` : diff;
  const opened = await openApproval(tx, deps, {
    subject: { type: SCRIPT_VERSION_SUBJECT, id: String(version.id) },
    projectId: null,
    requester: actor,
    permission: SOP_APPROVE,
    title: `Review high-risk script ${definition.name} version ${number}`,
    details: [
      { label: 'Script', value: `${definition.name} v${number} (${definition.language})` },
      { label: 'Author', value: actor.user.handle },
      { label: 'Change', value: `+${stat.added} −${stat.removed} lines` },
      { label: 'Diff', value: `\`\`\`\n${preview}\`\`\`` },
    ],
    data: { versionId: version.id, script: definition.name, version: number },
  });
  await setVersionApproval(tx, version.id, { state: 'pending', approvalId: opened.request.id, at: null });
  return {
    version: { ...version, approvalId: opened.request.id },
    changed: true,
    approvalId: opened.request.id,
  };
}

/** Why this version may not run now, or null when it may. */
export function versionBlocker(version: ScriptVersionRow, currentVersionId: number | null): string | null {
  const name = `${version.scriptName} v${version.version}`;
  if (currentVersionId !== version.id) {
    return `${name} has been replaced by a newer version since this run was requested; request the run again so the version that runs is the one reviewed`;
  }
  if (version.risk !== 'high' || version.approvalState === 'approved') return null;
  if (version.approvalState === 'pending') {
    return `${name} is high risk and its review${version.approvalId ? ` (approval #${version.approvalId})` : ''} is not approved yet; ask someone with ${SOP_APPROVE} to review it`;
  }
  return `${name} is high risk and its review was not approved; change the script to make a new version for review`;
}

const HookData = z.object({ versionId: z.number().int().positive() });

function settle(state: VersionApprovalState, action: string): ApprovalHook {
  return async (tx, deps, approval, context) => {
    const { versionId } = HookData.parse(approval.details.data);
    const version = await getScriptVersionById(tx, versionId);
    if (!version) throw new AppError('not_found', `script version #${versionId} no longer exists`);
    if (version.approvalState !== 'pending') return;
    await setVersionApproval(tx, version.id, { state, approvalId: approval.id, at: deps.clock.now() });
    await recordEvent(tx, deps, {
      actor: context.actor,
      action,
      subject: { type: 'script', id: version.scriptName },
      data: { script: version.scriptName, version: version.version, approvalId: approval.id },
    });
  };
}

/** `script-version`: approval makes a high-risk version runnable; anything else leaves it blocked. */
export const scriptVersionSubject: ApprovalSubject = {
  type: SCRIPT_VERSION_SUBJECT,
  onApproved: settle('approved', 'script.version-approved'),
  onDenied: settle('denied', 'script.version-rejected'),
  onExpired: settle('denied', 'script.version-rejected'),
  onCancelled: settle('denied', 'script.version-rejected'),
};
