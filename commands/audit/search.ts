import { AppError } from '../../lib/errors.js';
import { searchAuditEvents } from '../../storage/audit-search.js';
import { getProjectBySlug } from '../../storage/inventory.js';
import type { Deps } from '../deps.js';
import { decodeCursor, type Page, pageOf } from '../inventory/paging.js';
import { projectNotFound } from '../inventory/projects.js';
import { projectsWith } from '../inventory/scope.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import type { AuditEvent } from './trail.js';
import { type ChainReport, verifyChain } from './verify.js';

export interface AuditSearchInput {
  actor?: string;
  /** Exact action, or a family ending in `.` or `.*` (`server.*`). */
  action?: string;
  /** `type` or `type:id`, e.g. `server:web-01`. */
  subject?: string;
  project?: string;
  since?: Date;
  limit?: number;
  cursor?: string;
}

const MAX_LIMIT = 500;

/**
 * Read the trail. Holders of a global audit:read see every event; holders on some projects see
 * those projects' events only. Pages follow seq, so a client can keep a cursor and poll for more.
 */
export async function listAuditEvents(
  input: AuditSearchInput,
  deps: Deps,
  actor: Actor,
): Promise<Page<AuditEvent>> {
  const ids = projectsWith(actor, 'audit:read');
  if (ids !== null && ids.length === 0) authorize(actor, 'audit:read', null);
  let projectId: number | undefined;
  if (input.project !== undefined) {
    const project = await getProjectBySlug(deps.sql, input.project);
    if (!project) throw projectNotFound(input.project);
    authorize(actor, 'audit:read', project);
    projectId = project.id;
  }
  let subjectType: string | undefined;
  let subjectId: string | undefined;
  if (input.subject !== undefined) {
    const colon = input.subject.indexOf(':');
    subjectType = colon < 0 ? input.subject : input.subject.slice(0, colon);
    subjectId = colon < 0 ? undefined : input.subject.slice(colon + 1);
  }
  const action = input.action?.endsWith('.*') ? input.action.slice(0, -1) : input.action;
  const limit = Math.min(Math.max(input.limit ?? 100, 1), MAX_LIMIT);
  const rows = await searchAuditEvents(deps.sql, {
    projectIds: ids,
    projectId,
    actor: input.actor,
    action,
    subjectType,
    subjectId,
    since: input.since,
    afterSeq: input.cursor === undefined ? undefined : decodeCursor<number>(input.cursor, 'number'),
    limit: limit + 1,
  });
  return pageOf(rows, limit, (last) => last.seq);
}

/** Check the whole hash chain (audit:verify, global only). */
export async function verifyAuditTrail(
  input: { fromSeq?: number },
  deps: Deps,
  actor: Actor,
): Promise<ChainReport> {
  authorize(actor, 'audit:verify', null);
  if (input.fromSeq !== undefined && (!Number.isInteger(input.fromSeq) || input.fromSeq < 1)) {
    throw new AppError('bad_request', 'fromSeq is a positive whole number');
  }
  return verifyChain(deps.sql, input.fromSeq === undefined ? {} : { fromSeq: input.fromSeq });
}
