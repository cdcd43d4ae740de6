import { z } from 'zod';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../../../commands/inventory/paging.js';
import { ProjectSlug, ServerName } from '../../../commands/inventory/schema.js';
import {
  type FindingWithAge,
  getScanBatch,
  getServerFindings,
  listFindings,
  listScanBatches,
} from '../../../commands/scanning/queries.js';
import { startScan } from '../../../commands/scanning/scan.js';
import type { Staleness } from '../../../commands/scanning/settings.js';
import type { OpenFinding } from '../../../storage/findings.js';
import type { ScanBatch, ScanRecord } from '../../../storage/scans.js';
import { type ApiRoute, defineRoute } from '../registry.js';
import { pageOf } from '../views.js';

const Timestamp = z.iso.datetime();
const iso = (d: Date | null) => (d ? d.toISOString() : null);
const CLASSIFICATIONS = ['security', 'bugfix', 'enhancement', 'other'] as const;
const SEVERITIES = ['critical', 'important', 'moderate', 'low', 'unknown'] as const;

const Limit = z.coerce
  .number()
  .int()
  .min(1)
  .max(MAX_PAGE_SIZE)
  .optional()
  .describe(`page size (default ${DEFAULT_PAGE_SIZE}, at most ${MAX_PAGE_SIZE})`);
const Cursor = z.string().max(2000).optional().describe('the nextCursor of the previous page');

export const BatchView = z.object({
  id: z.int(),
  scope: z.string().describe('a server name, a project slug, or all'),
  scopeKind: z.enum(['server', 'project', 'all']),
  status: z.enum(['running', 'done', 'interrupted']),
  total: z.int(),
  done: z.int(),
  failed: z.int(),
  triggeredBy: z.string(),
  requestedBy: z.string(),
  startedAt: Timestamp,
  finishedAt: Timestamp.nullable(),
});

function batchView(b: ScanBatch): z.input<typeof BatchView> {
  return {
    id: b.id,
    scope: b.scopeValue ?? 'all',
    scopeKind: b.scopeKind,
    status: b.status,
    total: b.total,
    done: b.done,
    failed: b.failed,
    triggeredBy: b.triggeredBy,
    requestedBy: b.requestedRef,
    startedAt: b.startedAt.toISOString(),
    finishedAt: iso(b.finishedAt),
  };
}

const ScanView = z.object({
  id: z.int(),
  server: z.string(),
  status: z.enum(['running', 'succeeded', 'failed']),
  errorKind: z.string().nullable(),
  errorMessage: z.string().nullable(),
  method: z.string().nullable(),
  os: z.record(z.string(), z.unknown()).nullable(),
  rebootRequired: z.boolean().nullable(),
  counts: z.record(z.string(), z.unknown()),
  problems: z.array(z.unknown()),
  startedAt: Timestamp,
  finishedAt: Timestamp.nullable(),
});

function scanView(s: ScanRecord): z.input<typeof ScanView> {
  return {
    id: s.id,
    server: s.serverName,
    status: s.status,
    errorKind: s.errorKind,
    errorMessage: s.errorMessage,
    method: s.method,
    os: s.os,
    rebootRequired: s.rebootRequired,
    counts: s.counts,
    problems: s.problems,
    startedAt: s.startedAt.toISOString(),
    finishedAt: iso(s.finishedAt),
  };
}

const StalenessView = z.object({
  stale: z.boolean().describe('true when the last good scan is older than the project allows (or missing)'),
  ageSeconds: z.int().nullable().describe('age of the last good scan; null when there is none'),
  staleAfterSeconds: z.int(),
});

function stalenessView(s: Staleness): z.input<typeof StalenessView> {
  return {
    stale: s.stale,
    ageSeconds: s.ageMs === null ? null : Math.floor(s.ageMs / 1000),
    staleAfterSeconds: Math.floor(s.staleAfterMs / 1000),
  };
}

const FindingView = z.object({
  package: z.string(),
  arch: z.string(),
  installedVersion: z.string(),
  candidateVersion: z.string(),
  classification: z.enum(CLASSIFICATIONS),
  severity: z.enum(SEVERITIES),
  cves: z.array(z.string()),
  advisories: z.array(z.string()),
  source: z.string().nullable(),
  rebootRequired: z.boolean(),
  firstSeenAt: Timestamp,
  lastSeenAt: Timestamp,
  pendingSeconds: z.int().describe('how long it has been pending (since first seen)'),
});

function findingView(f: OpenFinding, now: Date): z.input<typeof FindingView> {
  return {
    package: f.package,
    arch: f.arch,
    installedVersion: f.installedVersion,
    candidateVersion: f.candidateVersion,
    classification: f.classification,
    severity: f.severity,
    cves: f.cves,
    advisories: f.advisories,
    source: f.source,
    rebootRequired: f.rebootRequired,
    firstSeenAt: f.firstSeenAt.toISOString(),
    lastSeenAt: f.lastSeenAt.toISOString(),
    pendingSeconds: Math.max(0, Math.floor((now.getTime() - f.firstSeenAt.getTime()) / 1000)),
  };
}

const FleetFindingView = FindingView.extend({
  server: z.string(),
  project: z.string().nullable(),
  result: StalenessView,
});

function fleetFindingView(f: FindingWithAge, now: Date): z.input<typeof FleetFindingView> {
  return {
    ...findingView(f, now),
    server: f.serverName,
    project: f.projectSlug,
    result: stalenessView(f.staleness),
  };
}

const ServerFindingsView = z.object({
  server: z.string(),
  project: z.string().nullable(),
  result: StalenessView,
  lastGoodScanAt: Timestamp.nullable(),
  lastScan: z
    .object({
      at: Timestamp,
      status: z.enum(['succeeded', 'failed']),
      errorKind: z.string().nullable(),
      errorMessage: z.string().nullable(),
    })
    .nullable(),
  rebootRequired: z.boolean().nullable(),
  findings: z.array(FindingView),
});

const FindingQuery = z
  .object({
    project: ProjectSlug.optional(),
    classification: z.enum(CLASSIFICATIONS).optional(),
    severity: z.enum(SEVERITIES).optional(),
    cve: z
      .string()
      .regex(/^CVE-\d{4}-\d{4,9}$/, 'a CVE id looks like CVE-2024-12345')
      .optional(),
    limit: Limit,
    cursor: Cursor,
  })
  .strict();

export const scanningRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/scans',
    operationId: 'listScans',
    summary: 'Scan batches you may read, newest first',
    tag: 'scanning',
    permission: 'inventory:read',
    query: z.object({ project: ProjectSlug.optional(), limit: Limit, cursor: Cursor }).strict(),
    response: pageOf(BatchView),
    handler: async ({ query, deps, actor }) => {
      const page = await listScanBatches(deps, actor, query);
      return { items: page.items.map(batchView), nextCursor: page.nextCursor };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/scans',
    operationId: 'startScan',
    summary: 'Scan a server, a project or all: answers 202 at once, the scan runs in the background',
    description: 'Poll GET /scans/{id} for progress. Needs scan:run on every project concerned.',
    tag: 'scanning',
    permission: 'scan:run',
    body: z
      .object({
        scope: z
          .string()
          .min(1)
          .max(200)
          .describe('a server name, a project slug, all, or server:<name> / project:<slug>'),
      })
      .strict(),
    response: z.object({ batch: BatchView }),
    status: 202,
    handler: async ({ body, deps, actor, meta }) => {
      const started = await startScan(deps, actor, { scope: body.scope }, { ...meta, triggeredBy: 'api' });
      return { batch: batchView(started.batch) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/scans/{id}',
    operationId: 'getScan',
    summary: 'One scan batch with the result of each server',
    tag: 'scanning',
    permission: 'inventory:read',
    params: z.object({ id: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER) }),
    response: z.object({ batch: BatchView, scans: z.array(ScanView) }),
    handler: async ({ params, deps, actor }) => {
      const { batch, scans } = await getScanBatch(deps, actor, { id: params.id });
      return { batch: batchView(batch), scans: scans.map(scanView) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/servers/{name}/findings',
    operationId: 'getServerFindings',
    summary: "A server's pending updates, with their ages and whether the result is stale",
    tag: 'scanning',
    permission: 'inventory:read',
    params: z.object({ name: ServerName }),
    response: ServerFindingsView,
    handler: async ({ params, deps, actor }) => {
      const view = await getServerFindings(deps, actor, { name: params.name });
      const now = deps.clock.now();
      const st = view.state;
      return {
        server: view.server.name,
        project: view.server.projectSlug,
        result: stalenessView(view.staleness),
        lastGoodScanAt: iso(st?.lastGoodScanAt ?? null),
        lastScan:
          st?.lastScanAt && st.lastScanStatus
            ? {
                at: st.lastScanAt.toISOString(),
                status: st.lastScanStatus,
                errorKind: st.lastErrorKind,
                errorMessage: st.lastErrorMessage,
              }
            : null,
        rebootRequired: st?.rebootRequired ?? null,
        findings: view.findings.map((f) => findingView(f, now)),
      };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/findings',
    operationId: 'listFindings',
    summary: 'Pending updates across the servers you may read, filtered, a page at a time',
    tag: 'scanning',
    permission: 'inventory:read',
    query: FindingQuery,
    response: pageOf(FleetFindingView),
    handler: async ({ query, deps, actor }) => {
      const page = await listFindings(deps, actor, query);
      const now = deps.clock.now();
      return { items: page.items.map((f) => fleetFindingView(f, now)), nextCursor: page.nextCursor };
    },
  }),
];
