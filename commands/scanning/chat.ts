import type { InteractionResult, ListItem } from '../../bot/chat/model.js';
import { AppError } from '../../lib/errors.js';
import type { OpenFinding } from '../../storage/findings.js';
import { formatDuration } from '../grammar.js';
import { ageOf } from '../inventory/chat.js';
import type { CommandSpec } from '../registry.js';
import { getServerFindings, scanStatus } from './queries.js';
import { startScan } from './scan.js';
import type { Staleness } from './settings.js';

/** At most this many lines in chat; the rest is a link to the API. */
const CHAT_LIST_LIMIT = 25;

const DAY = 86_400_000;

/** `just now`, `5h ago`, `3d ago`. */
export function ago(then: Date, now: Date): string {
  const age = ageOf(then, now);
  return age === 'just now' ? age : `${age} ago`;
}

/** A threshold as people say it: `8d`, `36h`. */
function threshold(ms: number): string {
  return ms >= 2 * DAY && ms % DAY === 0 ? `${ms / DAY}d` : formatDuration(ms);
}

/** `last good scan 3d ago`, or `STALE: last good scan 9d ago (older than 8d)`, or never scanned. */
export function freshness(staleness: Staleness, lastGood: Date | null, now: Date): string {
  if (!lastGood) return 'STALE: never scanned successfully';
  const age = `last good scan ${ago(lastGood, now)}`;
  return staleness.stale ? `STALE: ${age} (older than ${threshold(staleness.staleAfterMs)})` : age;
}

function findingItem(f: OpenFinding, now: Date): ListItem {
  const arch = f.arch ? `:${f.arch}` : '';
  return {
    text: `${f.package}${arch} ${f.installedVersion} → ${f.candidateVersion}`,
    detail: [
      f.classification,
      f.severity,
      `pending ${ageOf(f.firstSeenAt, now)} (first seen ${f.firstSeenAt.toISOString().slice(0, 10)})`,
      ...(f.cves.length ? [f.cves.slice(0, 4).join(', ') + (f.cves.length > 4 ? ', …' : '')] : []),
      ...(f.rebootRequired ? ['needs reboot'] : []),
    ].join(' · '),
  };
}

export const scanCommand: CommandSpec = {
  path: ['scan'],
  usage: 'scan <server|project|all>',
  summary: 'Scan servers for pending updates now; progress and a summary go to the project channel',
  permission: 'scan:run',
  maxPositional: 1,
  async run(args, ctx): Promise<InteractionResult> {
    const scope = args.positional[0];
    if (!scope) {
      throw new AppError(
        'bad_request',
        'Say what to scan: a server, a project or `all`.\nUsage: /warden scan <server|project|all>',
      );
    }
    const started = await startScan(
      ctx.deps,
      ctx.actor,
      { scope },
      { originChannel: ctx.interaction.channel, triggeredBy: ctx.actor.via === 'api' ? 'api' : 'chat' },
    );
    return { reply: started.reply };
  },
};

export const scanStatusCommand: CommandSpec = {
  path: ['scan', 'status'],
  usage: 'scan status [project]',
  summary: 'When each server was last scanned, what is pending, and which results are stale',
  permission: 'inventory:read',
  maxPositional: 1,
  async run(args, ctx): Promise<InteractionResult> {
    const project = args.positional[0];
    const rows = await scanStatus(ctx.deps, ctx.actor, { project });
    const now = ctx.deps.clock.now();
    const stale = rows.filter((r) => r.staleness.stale).length;
    const items: ListItem[] = rows.slice(0, CHAT_LIST_LIMIT).map((r) => ({
      text: `${r.serverName}: ${r.openTotal} pending (${r.openSecurity} security, ${r.openCritical} critical)`,
      detail: [
        freshness(r.staleness, r.lastGoodScanAt, now),
        ...(r.lastScanStatus === 'failed' && r.lastScanAt
          ? [`last attempt ${ago(r.lastScanAt, now)} failed: ${r.lastErrorKind}`]
          : []),
        ...(r.rebootRequired ? ['waiting for a reboot'] : []),
      ].join(' · '),
    }));
    const where = project ? ` in ${project}` : '';
    return {
      reply: {
        visibility: 'private',
        header: `Scan status${where}: ${rows.length} server${rows.length === 1 ? '' : 's'}, ${stale} stale`,
        ...(items.length ? { items } : { text: `No servers${where} yet.` }),
        ...(rows.length > CHAT_LIST_LIMIT
          ? {
              context: [`Showing ${CHAT_LIST_LIMIT} of ${rows.length}.`],
              moreUrl: `${ctx.deps.config.publicUrl}/api/v1/findings${project ? `?project=${encodeURIComponent(project)}` : ''}`,
            }
          : {}),
      },
    };
  },
};

export const findingsCommand: CommandSpec = {
  path: ['findings'],
  usage: 'findings <server>',
  summary: "A server's pending updates with their age, classification, severity and CVEs",
  permission: 'inventory:read',
  maxPositional: 1,
  async run(args, ctx): Promise<InteractionResult> {
    const name = args.positional[0];
    if (!name) throw new AppError('bad_request', 'Say which server.\nUsage: /warden findings <server>');
    const view = await getServerFindings(ctx.deps, ctx.actor, { name });
    const now = ctx.deps.clock.now();
    const state = view.state;
    const context: string[] = [freshness(view.staleness, state?.lastGoodScanAt ?? null, now)];
    if (state?.lastScanStatus === 'failed' && state.lastScanAt) {
      context.push(
        `The last attempt ${ago(state.lastScanAt, now)} failed (${state.lastErrorKind}): ${state.lastErrorMessage ?? ''}`,
      );
    }
    if (state?.rebootRequired) context.push('The server is waiting for a reboot.');
    if (view.findings.length > CHAT_LIST_LIMIT)
      context.push(`Showing ${CHAT_LIST_LIMIT} of ${view.findings.length}.`);
    const staleMark = view.staleness.stale ? ' [STALE]' : '';
    if (!state?.lastGoodScanAt) {
      return {
        reply: {
          visibility: 'private',
          tone: 'warning',
          header: `${view.server.name}: no scan result yet`,
          text: `Type \`scan ${view.server.name}\` to find out what is pending.`,
          context,
        },
      };
    }
    return {
      reply: {
        visibility: 'private',
        ...(view.staleness.stale ? { tone: 'warning' as const } : {}),
        header: `Pending updates on ${view.server.name}: ${view.findings.length}${staleMark}`,
        ...(view.findings.length
          ? { items: view.findings.slice(0, CHAT_LIST_LIMIT).map((f) => findingItem(f, now)) }
          : { text: 'Nothing pending at the last good scan.' }),
        context,
        ...(view.findings.length > CHAT_LIST_LIMIT
          ? {
              moreUrl: `${ctx.deps.config.publicUrl}/api/v1/servers/${encodeURIComponent(view.server.name)}/findings`,
            }
          : {}),
      },
    };
  },
};

/** The scanning chat commands, for commands/index.ts. */
export const scanningCommands: readonly CommandSpec[] = [scanCommand, scanStatusCommand, findingsCommand];
