import type { Reply } from '../../bot/chat/model.js';
import { AppError } from '../../lib/errors.js';
import { type Tx, withTx } from '../../storage/db.js';
import { insertRun, listRunServers, type RunRow, setRunApproval } from '../../storage/script-runs.js';
import { getCurrentScriptVersion, lockScriptByName, type ScriptVersionRow } from '../../storage/scripts.js';
import { openApproval } from '../approvals/open.js';
import { trailActor } from '../approvals/state.js';
import { type OutboxWrite, recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { quoteForMessage } from '../grammar.js';
import { actorFacts, type CallMeta } from '../inventory/scope.js';
import type { Actor } from '../rbac/authorize.js';
import type { Permission } from '../rbac/roles.js';
import { SCRIPT_NAME_PATTERN } from './definition.js';
import { validateParams } from './params.js';
import { paramsText, runMessage, runRef, SCRIPT_RUN_SUBJECT, scopeText } from './render.js';
import { authorizeRun, checkServerLists, MAX_RUN_SERVERS, resolveRunTargets } from './targets.js';
import { SOP_APPROVE, versionBlocker } from './versions.js';

/**
 * `run <script> on <server|project|tag> [param=value …]`: check the script may run (a high-risk
 * version must have been reviewed), resolve the servers, check the caller holds the script's
 * permission on every project concerned, validate the parameters, and record the run. A low-risk
 * run is queued at once; a high-risk one waits for an approval (subject `script-run`). Execution
 * happens after the commit, through the outbox channel `sop-run` (execute.ts).
 */
export const SOP_RUN_CHANNEL = 'sop-run';
export const DEFAULT_CONCURRENCY = 10;
export const MAX_CONCURRENCY = 100;

export interface StartRunInput {
  script: string;
  /** A server name, a project slug, `server:<name>`, `project:<slug>`, or `tag:<key>` / `tag:<key>=<value>`. */
  target: string;
  params?: Record<string, unknown>;
  concurrency?: number;
}

export interface StartedRun {
  run: RunRow;
  serverCount: number;
  /** Set when the run waits for an approval. */
  approvalId: number | null;
  reply: Reply;
}

function concurrencyOf(value: number | undefined): number {
  const n = value ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(n) || n < 1 || n > MAX_CONCURRENCY) {
    throw new AppError('bad_request', `concurrency must be a whole number from 1 to ${MAX_CONCURRENCY}`);
  }
  return n;
}

/** The outbox item that makes a process execute the run after the commit. */
export function runStartItem(runId: number): OutboxWrite {
  return {
    channel: SOP_RUN_CHANNEL,
    kind: 'run-start',
    payload: { runId },
    orderingKey: `script-run:${runId}`,
  };
}

/** The run's message and start item, written when it is queued (now, or on approval). */
export async function queueRunEvent(
  tx: Tx,
  deps: Deps,
  input: {
    run: RunRow;
    version: Pick<ScriptVersionRow, 'risk'>;
    requester: string;
    actor: string;
    action: string;
    data?: Record<string, unknown>;
    requestId?: string;
  },
): Promise<void> {
  const { run } = input;
  const servers = await listRunServers(tx, run.id);
  await recordEvent(
    tx,
    deps,
    {
      actor: input.actor,
      action: input.action,
      subject: runRef(run.id),
      projectId: run.projectId,
      data: { runId: run.id, script: run.scriptName, version: run.version, ...input.data },
      ...(input.requestId ? { requestId: input.requestId } : {}),
    },
    [
      {
        kind: 'subject-message',
        subject: runRef(run.id),
        projectId: run.projectId,
        reply: runMessage(run, input.version, servers, input.requester),
      },
    ],
    [runStartItem(run.id)],
  );
}

export async function startRun(
  deps: Deps,
  actor: Actor,
  input: StartRunInput,
  meta: CallMeta = {},
): Promise<StartedRun> {
  const name = input.script.trim().toLowerCase();
  const version = SCRIPT_NAME_PATTERN.test(name) ? await getCurrentScriptVersion(deps.sql, name) : undefined;
  if (!version) {
    throw new AppError(
      'not_found',
      `there is no script ${quoteForMessage(input.script)}; type \`scripts\` to list them`,
    );
  }
  const resolved = await resolveRunTargets(deps, input.target);
  if (resolved.servers.length === 0) {
    throw new AppError(
      'bad_request',
      `${quoteForMessage(input.target)} has no servers, so there is nothing to run on`,
    );
  }
  if (resolved.servers.length > MAX_RUN_SERVERS) {
    throw new AppError(
      'bad_request',
      `${quoteForMessage(input.target)} has more than ${MAX_RUN_SERVERS} servers; run it project by project`,
    );
  }
  authorizeRun(actor, version.permission as Permission, version.scriptName, resolved.servers);
  const blocker = versionBlocker(version, version.id);
  if (blocker)
    throw new AppError('conflict', `cannot run ${version.scriptName}: ${blocker}`, {
      details: { approvalId: version.approvalId },
    });
  const { values, serverLists } = validateParams(version.params as never, input.params ?? {});
  await checkServerLists(deps, actor, serverLists);
  const concurrency = concurrencyOf(input.concurrency);
  const projectIds = new Set(resolved.servers.map((s) => s.projectId));
  const projectId = projectIds.size === 1 ? [...projectIds][0]! : null;
  const high = version.risk === 'high';

  const result = await withTx(deps.sql, async (tx) => {
    // The script row is locked against edits: a version committed since the checks is refused.
    const script = await lockScriptByName(tx, name);
    if (script?.currentVersionId !== version.id) {
      throw new AppError('conflict', `${name} changed while the run was being prepared; run it again`);
    }
    const run = await insertRun(
      tx,
      {
        scriptId: version.scriptId,
        versionId: version.id,
        scopeKind: resolved.kind,
        scopeValue: resolved.value,
        projectId,
        params: values,
        concurrency,
        status: high ? 'awaiting-approval' : 'queued',
        requestedBy: actor.user.id,
        requestedRef: trailActor(actor),
        servers: resolved.servers.map((s) => ({ id: s.id, name: s.name })),
      },
      deps.clock.now(),
    );
    const facts = {
      target: input.target,
      servers: resolved.servers.length,
      params: values,
      risk: version.risk,
      ...actorFacts(actor),
    };
    if (!high) {
      await queueRunEvent(tx, deps, {
        run,
        version,
        requester: actor.user.handle,
        actor: trailActor(actor),
        action: 'script-run.started',
        data: facts,
        ...(meta.requestId ? { requestId: meta.requestId } : {}),
      });
      return { run, approvalId: null };
    }
    await recordEvent(tx, deps, {
      actor: trailActor(actor),
      action: 'script-run.requested',
      subject: runRef(run.id),
      projectId,
      data: { runId: run.id, script: name, version: version.version, ...facts },
      ...(meta.requestId ? { requestId: meta.requestId } : {}),
    });
    const opened = await openApproval(tx, deps, {
      subject: { type: SCRIPT_RUN_SUBJECT, id: String(run.id) },
      projectId,
      requester: actor,
      permission: SOP_APPROVE,
      title: `Run high-risk script ${name} v${version.version} on ${scopeText(run)}`,
      details: [
        { label: 'Script', value: `${name} v${version.version}: ${version.description}` },
        { label: 'On', value: `${scopeText(run)} (${resolved.servers.length} servers)` },
        { label: 'Parameters', value: paramsText(values) },
      ],
      data: { runId: run.id },
    });
    await setRunApproval(tx, run.id, opened.request.id);
    return { run: { ...run, approvalId: opened.request.id }, approvalId: opened.request.id };
  });
  deps.kickOutbox?.();
  const count = resolved.servers.length;
  const on = `${scopeText(result.run)} (${count} server${count === 1 ? '' : 's'})`;
  const reply: Reply = result.approvalId
    ? {
        visibility: 'private',
        tone: 'info',
        text: `Run #${result.run.id} of ${name} v${version.version} on ${on} is high risk: it waits for approval #${result.approvalId} by someone with ${SOP_APPROVE}, and starts when approved.`,
      }
    : {
        visibility: 'private',
        tone: 'success',
        text: `Run #${result.run.id} of ${name} v${version.version} on ${on} started; each server's result follows in the run's thread. Cancel with \`/warden run cancel ${result.run.id}\`.`,
      };
  return { run: result.run, serverCount: count, approvalId: result.approvalId, reply };
}
