import { AppError } from '../../lib/errors.js';
import {
  type Classification,
  listOpenFindings,
  listOpenFindingsOfServer,
  type OpenFinding,
  type OpenFindingWithServer,
  type Severity,
} from '../../storage/findings.js';
import { getProjectBySlug, listProjects, type Server } from '../../storage/inventory.js';
import {
  getBatch,
  listBatches,
  listScansOfBatch,
  listServerScanStates,
  type ScanBatch,
  type ScanRecord,
  type ServerScanState,
} from '../../storage/scans.js';
import type { Deps } from '../deps.js';
import { DEFAULT_PAGE_SIZE, decodeCursor, MAX_PAGE_SIZE, type Page, pageOf } from '../inventory/paging.js';
import { projectNotFound } from '../inventory/projects.js';
import { holdsAnywhere, projectsWith } from '../inventory/scope.js';
import { getServer } from '../inventory/servers.js';
import { type Actor, authorize, can } from '../rbac/authorize.js';
import { type Staleness, scanSchedule, stalenessOf } from './settings.js';

/**
 * What the chat commands and the API read about scans. Reading results needs `inventory:read`
 * on the project concerned; every answer carries the age of the last good scan and whether it
 * is stale (worked out now, from timestamps).
 */
export interface ServerFindings {
  server: Server;
  state: ServerScanState | undefined;
  staleness: Staleness;
  findings: OpenFinding[];
}

export interface ScanStatusRow extends ServerScanState {
  staleness: Staleness;
}

export type FindingWithAge = OpenFindingWithServer & { staleness: Staleness };

async function schedulesOf(deps: Deps, projectIds: readonly (number | null)[]) {
  const ids = [...new Set(projectIds.filter((id): id is number => id !== null))];
  const projects = ids.length ? await listProjects(deps.sql, { projectIds: ids }) : [];
  const now = deps.clock.now();
  const byId = new Map(projects.map((p) => [p.id, scanSchedule(p, now)]));
  const fallback = scanSchedule(null, now);
  return (id: number | null) => (id === null ? fallback : (byId.get(id) ?? fallback));
}

/** A server's pending updates (most urgent first), with the age and staleness of the result. */
export async function getServerFindings(
  deps: Deps,
  actor: Actor,
  input: { name: string; limit?: number },
): Promise<ServerFindings> {
  const server = await getServer({ name: input.name }, deps, actor);
  const [state] = await listServerScanStates(deps.sql, {
    projectIds: null,
    serverIds: [server.id],
    limit: 1,
  });
  const schedule = (await schedulesOf(deps, [server.projectId]))(server.projectId);
  const limit = Math.min(Math.max(input.limit ?? 1_000, 1), 10_000);
  return {
    server,
    state,
    staleness: stalenessOf(state?.lastGoodScanAt ?? null, schedule, deps.clock.now()),
    findings: await listOpenFindingsOfServer(deps.sql, server.id, limit),
  };
}

/** Every server the actor may read (or one project's), with its last scans and staleness. */
export async function scanStatus(
  deps: Deps,
  actor: Actor,
  input: { project?: string; limit?: number },
): Promise<ScanStatusRow[]> {
  const ids = projectsWith(actor, 'inventory:read');
  if (ids !== null && ids.length === 0) authorize(actor, 'inventory:read', null);
  let projectId: number | undefined;
  if (input.project !== undefined) {
    const project = await getProjectBySlug(deps.sql, input.project);
    if (!project) throw projectNotFound(input.project);
    authorize(actor, 'inventory:read', project);
    projectId = project.id;
  }
  const rows = await listServerScanStates(deps.sql, {
    projectIds: ids,
    projectId,
    limit: Math.min(Math.max(input.limit ?? 10_000, 1), 10_000),
  });
  const scheduleOf = await schedulesOf(
    deps,
    rows.map((r) => r.projectId),
  );
  const now = deps.clock.now();
  return rows.map((r) => ({ ...r, staleness: stalenessOf(r.lastGoodScanAt, scheduleOf(r.projectId), now) }));
}

function mayReadBatch(actor: Actor, batch: ScanBatch): boolean {
  return can(actor, 'inventory:read', batch.projectId);
}

export async function listScanBatches(
  deps: Deps,
  actor: Actor,
  input: { project?: string; limit?: number; cursor?: string },
): Promise<Page<ScanBatch>> {
  const ids = projectsWith(actor, 'inventory:read');
  if (ids !== null && ids.length === 0) authorize(actor, 'inventory:read', null);
  let projectId: number | undefined;
  if (input.project !== undefined) {
    const project = await getProjectBySlug(deps.sql, input.project);
    if (!project) throw projectNotFound(input.project);
    authorize(actor, 'inventory:read', project);
    projectId = project.id;
  }
  const limit = Math.min(Math.max(input.limit ?? DEFAULT_PAGE_SIZE, 1), MAX_PAGE_SIZE);
  const rows = await listBatches(deps.sql, {
    projectIds: ids,
    projectId,
    beforeId: input.cursor === undefined ? undefined : decodeCursor<number>(input.cursor, 'number'),
    limit: limit + 1,
  });
  return pageOf(rows, limit, (last) => last.id);
}

export async function getScanBatch(
  deps: Deps,
  actor: Actor,
  input: { id: number },
): Promise<{ batch: ScanBatch; scans: ScanRecord[] }> {
  const batch = await getBatch(deps.sql, input.id);
  if (!batch || !mayReadBatch(actor, batch)) {
    // Only someone who may read some inventory learns that a batch does not exist (or is not theirs).
    if (!holdsAnywhere(actor, 'inventory:read')) authorize(actor, 'inventory:read', null);
    throw new AppError('not_found', `There is no scan batch #${input.id}; list them with GET /api/v1/scans.`);
  }
  return { batch, scans: await listScansOfBatch(deps.sql, batch.id) };
}

export interface FindingQuery {
  project?: string;
  classification?: Classification;
  severity?: Severity;
  cve?: string;
  limit?: number;
  cursor?: string;
}

/** Open findings across the servers the actor may read, a page at a time. */
export async function listFindings(
  deps: Deps,
  actor: Actor,
  input: FindingQuery,
): Promise<Page<FindingWithAge>> {
  const ids = projectsWith(actor, 'inventory:read');
  if (ids !== null && ids.length === 0) authorize(actor, 'inventory:read', null);
  let projectId: number | undefined;
  if (input.project !== undefined) {
    const project = await getProjectBySlug(deps.sql, input.project);
    if (!project) throw projectNotFound(input.project);
    authorize(actor, 'inventory:read', project);
    projectId = project.id;
  }
  let after: [string, string, string] | undefined;
  if (input.cursor !== undefined) {
    const decoded = decodeCursor<string>(input.cursor, 'string');
    const parts = decoded.split('\u0000');
    if (parts.length !== 3)
      throw new AppError('bad_request', 'the cursor is not one this API handed out; start again without it');
    after = parts as [string, string, string];
  }
  const limit = Math.min(Math.max(input.limit ?? DEFAULT_PAGE_SIZE, 1), MAX_PAGE_SIZE);
  const rows = await listOpenFindings(deps.sql, {
    projectIds: ids,
    projectId,
    classification: input.classification,
    severity: input.severity,
    cve: input.cve,
    after,
    limit: limit + 1,
  });
  const { items: page, nextCursor } = pageOf(rows, limit, (last) =>
    [last.serverName, last.package, last.arch].join('\u0000'),
  );
  const states = await listServerScanStates(deps.sql, {
    projectIds: null,
    serverIds: [...new Set(page.map((f) => f.serverId))],
    limit: MAX_PAGE_SIZE,
  });
  const lastGood = new Map(states.map((s) => [s.serverId, s.lastGoodScanAt]));
  const scheduleOf = await schedulesOf(
    deps,
    page.map((f) => f.projectId),
  );
  const now = deps.clock.now();
  const items = page.map((f) => ({
    ...f,
    staleness: stalenessOf(lastGood.get(f.serverId) ?? null, scheduleOf(f.projectId), now),
  }));
  return { items, nextCursor };
}
