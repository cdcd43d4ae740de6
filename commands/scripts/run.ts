import type { Reply } from '../../bot/chat/model.js';
import { AppError } from '../../lib/errors.js';
import { type Tx, withTx } from '../../storage/db.js';
import { getProjectBySlug, getServerByName, getServersByNames, listServers, type Server } from '../../storage/inventory.js';
import {
  getCurrentScriptVersion,
  insertRun,
  listRunServers,
  lockScriptByName,
  type RunRow,
  type ScopeKind,
  type ScriptVersionRow,
  setRunApproval,
} from '../../storage/scripts.js';
import { openApproval } from '../approvals/open.js';
import { trailActor } from '../approvals/state.js';
import { type OutboxWrite, recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { quoteForMessage } from '../grammar.js';
import { SERVER_NAME_PATTERN } from '../inventory/schema.js';
import { actorFacts, type CallMeta, projectsWith } from '../inventory/scope.js';
import { type Actor, can, rolesGranting } from '../rbac/authorize.js';
import type { Permission } from '../rbac/roles.js';
import { SCRIPT_NAME_PATTERN } from './definition.js';
import { validateParams } from './params.js';
import { paramsText, runMessage, runRef, SCRIPT_RUN_SUBJECT, scopeText } from './render.js';
import { SOP_APPROVE, versionBlocker } from './versions.js';

/**
 * `run <script> on <server|project|tag> [param=value …]`: check the script may run (a high-risk
 * version must have been reviewed), resolve the servers, check the caller holds the script's
 * permission on every project concerned, validate the parameters, and record the run. A low-risk
 * run is queued at once; a high-risk one waits for an approval (subject `script-run`). Execution
 * happens after the commit, through the outbox channel `sop-run` (execute.ts).
 */
export const SOP_RUN_CHANNEL = 'sop-run';
export const MAX_RUN_SERVERS = 5_000;
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

export interface ResolvedTargets {
  kind: ScopeKind;
  value: string;
  servers: Server[];
}

function nothingNamed(target: string): AppError {
  return new AppError(
    'not_found',
    `there is no server or project named ${quoteForMessage(target)}; type \`servers\` or \`projects\` to see them, or write tag:<key>=<value>`,
  );
}

/** The servers a target names. Tags may span projects; a bare word is a server first, then a project. */
export async function resolveRunTargets(deps: Deps, target: string): Promise<ResolvedTargets> {
  const text = target.trim();
  const match = /^(?:(server|project|tag):)?(.*)$/s.exec(text)!;
  const kind = match[1] as ScopeKind | undefined;
  const name = match[2]!;
  const limit = MAX_RUN_SERVERS + 1;
  if (kind === 'tag') {
    const tag = /^([A-Za-z0-9][A-Za-z0-9._/-]{0,62})(?:=([^\p{Cc}]{0,256}))?$/u.exec(name);
    if (!tag) throw new AppError('bad_request', `${quoteForMessage(text)} is not a tag: write tag:<key> or tag:<key>=<value>`);
    const servers = await listServers(deps.sql, {
      projectIds: null,
      tag: { key: tag[1]!, ...(tag[2] !== undefined ? { value: tag[2] } : {}) },
      limit,
    });
    return { kind: 'tag', value: name, servers };
  }
  if (!SERVER_NAME_PATTERN.test(name)) throw nothingNamed(text);
  if (kind !== 'project') {
    const server = await getServerByName(deps.sql, name);
    if (server) return { kind: 'server', value: server.name, servers: [server] };
  }
  if (kind !== 'server') {
    const project = await getProjectBySlug(deps.sql, name.toLowerCase());
    if (project) {
      const servers = await listServers(deps.sql, { projectIds: null, projectId: project.id, limit });
      return { kind: 'project', value: project.slug, servers };
    }
  }
  throw nothingNamed(text);
}

/** Refuse, naming every project where the actor lacks the script's permission. */
export function authorizeRun(actor: Actor, permission: Permission, script: string, servers: readonly Server[]): void {
  const missing = new Set<string>();
  for (const s of servers) {
    if (!can(actor, permission, s.projectId)) missing.add(s.projectSlug ? `project ${s.projectSlug}` : `${s.name} (in no project, so globally)`);
  }
  if (missing.size === 0) return;
  const where = [...missing].sort().slice(0, 5).join(', ') + (missing.size > 5 ? ` and ${missing.size - 5} more` : '');
  const roles = rolesGranting(permission).join(', ');
  const viaToken = actor.tokenScopes ? ' (or your API token is not scoped for it)' : '';
  throw new AppError(
    'forbidden',
    `you may not run ${script} there: it needs the ${permission} permission on ${where}${viaToken}. Ask an admin to bind you to one of these roles there: ${roles}.`,
    { details: { permission, where: [...missing].sort() } },
  );
}

/** Server-list parameters must name servers the caller may see. */
async function checkServerLists(deps: Deps, actor: Actor, lists: Record<string, string[]>): Promise<void> {
  const issues: { path: string; message: string }[] = [];
  const readable = projectsWith(actor, 'inventory:read');
  for (const [param, names] of Object.entries(lists)) {
    const found = await getServersByNames(deps.sql, names);
    const visible = new Set(
      found.filter((s) => readable === null || (s.projectId !== null && readable.includes(s.projectId))).map((s) => s.name),
    );
    const unknown = names.filter((n) => !visible.has(n));
    if (unknown.length > 0) {
      issues.push({ path: `params.${param}`, message: `parameter ${param} names unknown servers: ${unknown.slice(0, 5).join(', ')}` });
    }
  }
  if (issues.length > 0) {
    throw new AppError('bad_request', `${issues.map((i) => i.message).join('; ')}.`, { details: { issues } });
  }
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
  return { channel: SOP_RUN_CHANNEL, kind: 'run-start', payload: { runId }, orderingKey: `script-run:${runId}` };
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
    [{ kind: 'subject-message', subject: runRef(run.id), projectId: run.projectId, reply: runMessage(run, input.version, servers, input.requester) }],
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
    throw new AppError('not_found', `there is no script ${quoteForMessage(input.script)}; type \`scripts\` to list them`);
  }
  const resolved = await resolveRunTargets(deps, input.target);
  if (resolved.servers.length === 0) {
    throw new AppError('bad_request', `${quoteForMessage(input.target)} has no servers, so there is nothing to run on`);
  }
  if (resolved.servers.length > MAX_RUN_SERVERS) {
    throw new AppError('bad_request', `${quoteForMessage(input.target)} has more than ${MAX_RUN_SERVERS} servers; run it project by project`);
  }
  authorizeRun(actor, version.permission as Permission, version.scriptName, resolved.servers);
  const blocker = versionBlocker(version, version.id);
  if (blocker) throw new AppError('conflict', `cannot run ${version.scriptName}: ${blocker}`, { details: { approvalId: version.approvalId } });
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
    const facts = { target: input.target, servers: resolved.servers.length, params: values, risk: version.risk, ...actorFacts(actor) };
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
