import type { Reply } from '../../bot/chat/model.js';
import { AppError } from '../../lib/errors.js';
import { type Tx, withTx } from '../../storage/db.js';
import { getProjectBySlug, getServerByName, listServers, type Server } from '../../storage/inventory.js';
import { insertBatch, type ScanBatch, type ScanTrigger, type ScopeKind } from '../../storage/scans.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { quoteForMessage } from '../grammar.js';
import { SERVER_NAME_PATTERN } from '../inventory/schema.js';
import { actorFacts, actorRef, type CallMeta, holdsAnywhere, projectsWith } from '../inventory/scope.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import {
  type BatchOutcome,
  batchSubject,
  progressView,
  type RunBatchOptions,
  runScanBatch,
} from './run-scan.js';
import { progressReply } from './summary.js';

/**
 * `scan <server|project|all>`: check `scan:run` on every project concerned, record the batch
 * (committed before the answer), answer at once, and scan in the background. The batch row and
 * its outbox messages are durable; the scanning itself lives in this process, and if the process
 * dies the sweep (sweep.ts) marks the batch interrupted.
 */
export interface StartScanInput {
  /** A server name, a project slug, `all`, or `server:<name>` / `project:<slug>` when a name is both. */
  scope: string;
}

export interface StartScanMeta extends CallMeta {
  triggeredBy?: Exclude<ScanTrigger, 'schedule'>;
  /** The conversation the request came from (chat). */
  originChannel?: string | null;
  run?: RunBatchOptions;
}

export interface StartedScan {
  batch: ScanBatch;
  /** What to answer the person who asked. */
  reply: Reply;
  /** Settles when the background run ends (undefined if it crashed; that is logged). */
  done: Promise<BatchOutcome | undefined>;
}

/** At most this many servers in one batch; `all` on a larger fleet should go project by project. */
export const MAX_BATCH_SERVERS = 50_000;

interface ResolvedScope {
  kind: ScopeKind;
  value: string | null;
  projectId: number | null;
  servers: Server[];
}

function badScope(scope: string): AppError {
  return new AppError(
    'bad_request',
    `${quoteForMessage(scope)} is not a server name, a project slug or \`all\`. Type \`servers\` or \`projects\` to see them.`,
  );
}

function nothingNamed(scope: string): AppError {
  return new AppError(
    'not_found',
    `There is no server or project named ${quoteForMessage(scope)}. Type \`servers\` or \`projects\` to see them.`,
  );
}

/** Which servers a scope covers, after checking scan:run on each project concerned. */
export async function resolveScanScope(deps: Deps, actor: Actor, scope: string): Promise<ResolvedScope> {
  const text = scope.trim();
  if (text.toLowerCase() === 'all') {
    const ids = projectsWith(actor, 'scan:run');
    if (ids !== null && ids.length === 0) authorize(actor, 'scan:run', null);
    const servers = await listServers(deps.sql, { projectIds: ids, limit: MAX_BATCH_SERVERS + 1 });
    return { kind: 'all', value: null, projectId: null, servers };
  }
  const match = /^(?:(server|project):)?(.*)$/s.exec(text)!;
  const wanted = match[1] as 'server' | 'project' | undefined;
  const name = match[2]!;
  if (!SERVER_NAME_PATTERN.test(name)) throw badScope(scope);
  if (!holdsAnywhere(actor, 'scan:run')) authorize(actor, 'scan:run', null);
  if (wanted !== 'project') {
    const server = await getServerByName(deps.sql, name);
    if (server) {
      authorize(
        actor,
        'scan:run',
        server.projectId === null ? null : { id: server.projectId, slug: server.projectSlug ?? '' },
      );
      return { kind: 'server', value: server.name, projectId: server.projectId, servers: [server] };
    }
  }
  if (wanted !== 'server') {
    const project = await getProjectBySlug(deps.sql, name);
    if (project) {
      authorize(actor, 'scan:run', project);
      const servers = await listServers(deps.sql, {
        projectIds: null,
        projectId: project.id,
        limit: MAX_BATCH_SERVERS + 1,
      });
      return { kind: 'project', value: project.slug, projectId: project.id, servers };
    }
  }
  throw nothingNamed(name);
}

export interface CreateBatchInput {
  kind: ScopeKind;
  value: string | null;
  projectId: number | null;
  servers: readonly Pick<Server, 'id'>[];
  triggeredBy: ScanTrigger;
  requestedBy: number | null;
  requestedRef: string;
  originChannel?: string | null;
  data?: Record<string, unknown>;
  requestId?: string;
}

/** Records a batch and its first progress message, inside the caller's transaction. */
export async function createScanBatch(tx: Tx, deps: Deps, input: CreateBatchInput): Promise<ScanBatch> {
  const batch = await insertBatch(tx, {
    scopeKind: input.kind,
    scopeValue: input.value,
    projectId: input.projectId,
    serverIds: input.servers.map((s) => s.id),
    triggeredBy: input.triggeredBy,
    requestedBy: input.requestedBy,
    requestedRef: input.requestedRef,
    originChannel: input.originChannel ?? null,
    at: deps.clock.now(),
  });
  await recordEvent(
    tx,
    deps,
    {
      actor: input.requestedRef,
      action: 'scan.requested',
      subject: batchSubject(batch.id),
      projectId: batch.projectId,
      data: {
        ...input.data,
        scope: input.value ?? 'all',
        servers: batch.total,
        triggeredBy: input.triggeredBy,
      },
      requestId: input.requestId,
    },
    [
      {
        kind: 'subject-message',
        subject: batchSubject(batch.id),
        projectId: batch.projectId,
        reply: progressReply(progressView(batch, 0, 0, 'running')),
      },
    ],
  );
  return batch;
}

/** Run a recorded batch in the background; its failure is logged, never thrown at the caller. */
export function runInBackground(
  deps: Deps,
  batchId: number,
  options?: RunBatchOptions,
): Promise<BatchOutcome | undefined> {
  return runScanBatch(deps, batchId, options).catch((err: unknown) => {
    deps.log.error({ err, batch: batchId }, 'scan batch failed; the sweep will mark it interrupted');
    return undefined;
  });
}

/**
 * @example
 * const { reply, batch } = await startScan(deps, actor, { scope: 'demo' }, { triggeredBy: 'chat' });
 */
export async function startScan(
  deps: Deps,
  actor: Actor,
  input: StartScanInput,
  meta: StartScanMeta = {},
): Promise<StartedScan> {
  if (typeof input.scope !== 'string' || input.scope.trim() === '' || input.scope.length > 200) {
    throw badScope(String(input.scope ?? ''));
  }
  const scope = await resolveScanScope(deps, actor, input.scope);
  if (scope.servers.length === 0) {
    throw new AppError(
      'bad_request',
      scope.kind === 'project'
        ? `Project ${scope.value} has no servers to scan yet. Add some with POST /api/v1/servers.`
        : 'There are no servers you may scan yet.',
    );
  }
  if (scope.servers.length > MAX_BATCH_SERVERS) {
    throw new AppError(
      'bad_request',
      `That is more than ${MAX_BATCH_SERVERS} servers in one batch; scan project by project instead.`,
    );
  }
  const batch = await withTx(deps.sql, (tx) =>
    createScanBatch(tx, deps, {
      kind: scope.kind,
      value: scope.value,
      projectId: scope.projectId,
      servers: scope.servers,
      triggeredBy: meta.triggeredBy ?? (actor.via === 'api' ? 'api' : actor.via === 'cli' ? 'cli' : 'chat'),
      requestedBy: actor.user.id,
      requestedRef: actorRef(actor),
      originChannel: meta.originChannel ?? null,
      data: actorFacts(actor),
      requestId: meta.requestId,
    }),
  );
  deps.kickOutbox?.();
  const done = runInBackground(deps, batch.id, meta.run);
  const n = batch.total;
  return {
    batch,
    done,
    reply: {
      visibility: 'private',
      tone: 'info',
      header: `Scanning ${n} server${n === 1 ? '' : 's'}…`,
      text: `Scan batch #${batch.id} started. Progress and a summary will appear in the project's channel; type \`scan status\` or \`findings <server>\` to look at results.`,
    },
  };
}
