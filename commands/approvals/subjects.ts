import type { ApprovalDecisionRow, ApprovalRequest } from '../../storage/approvals.js';
import type { Tx } from '../../storage/db.js';
import type { Deps } from '../deps.js';
import { roleRequestSubject } from '../roles/request.js';

/** What a subject's hook is told besides the request itself. */
export interface ApprovalHookContext {
  /** Every decision on the request, oldest first. */
  decisions: readonly ApprovalDecisionRow[];
  /** Trail actor that caused the final state: `user:bob`, `job:approvals-sweep`, `system`. */
  actor: string;
}

export type ApprovalHook = (
  tx: Tx,
  deps: Deps,
  request: ApprovalRequest,
  context: ApprovalHookContext,
) => Promise<void>;

/**
 * A kind of thing that waits on an approval (a role request, an access request, a patch plan).
 * The engine calls its hook inside the same transaction that moves the request to its final
 * state, so the approval and its effect commit together or not at all.
 */
export interface ApprovalSubject {
  type: string;
  onApproved: ApprovalHook;
  onDenied?: ApprovalHook;
  onExpired?: ApprovalHook;
  onCancelled?: ApprovalHook;
}

/**
 * The subjects Warden knows, plus `extra` (later capabilities, tests). Set the result as
 * `deps.approvalSubjects`; a request whose subject is missing cannot be approved.
 *
 * @example
 * const deps = { ...base, approvalSubjects: createApprovalSubjects([accessRequestSubject]) };
 */
export function createApprovalSubjects(
  extra: readonly ApprovalSubject[] = [],
): ReadonlyMap<string, ApprovalSubject> {
  const map = new Map<string, ApprovalSubject>();
  for (const subject of [roleRequestSubject, ...extra]) {
    if (map.has(subject.type)) throw new Error(`approval subject ${subject.type} is registered twice`);
    map.set(subject.type, subject);
  }
  return map;
}
