import type { InteractionResult, ListItem } from '../../bot/chat/model.js';
import { AppError } from '../../lib/errors.js';
import type { CommandSpec } from '../registry.js';
import { percent } from './digest-render.js';
import { reasonText, shortAge } from './rules.js';
import { complianceView, sendDigestNow } from './summary.js';

/** At most this many lines in chat; the rest is a link to the API. */
const CHAT_LIST_LIMIT = 25;

function share(compliant: number, servers: number): string {
  const p = percent(compliant, servers);
  return p === null ? 'no servers' : `${Math.round(p)}% compliant`;
}

export const complianceCommand: CommandSpec = {
  path: ['compliance'],
  usage: 'compliance [project]',
  summary: 'Which servers are compliant, non-compliant (and why) or unknown, and since when',
  permission: 'compliance:read',
  maxPositional: 1,
  async run(args, ctx): Promise<InteractionResult> {
    const slug = args.positional[0];
    const view = await complianceView(ctx.deps, ctx.actor, { project: slug });
    const now = ctx.deps.clock.now();
    if (!view.project) {
      const items: ListItem[] = view.projects.slice(0, CHAT_LIST_LIMIT).map((p) => ({
        text: `${p.slug ?? '(no project)'}: ${share(p.compliant, p.servers)}, ${p.compliant} of ${p.servers} servers`,
        detail: `${p.nonCompliant} non-compliant · ${p.unknown} unknown · ${p.pendingSecurity} security updates pending`,
      }));
      return {
        reply: {
          visibility: 'private',
          header: 'Compliance by project',
          ...(items.length ? { items } : { text: 'No servers have been evaluated yet.' }),
          context: ['/warden compliance <project> lists the servers that are not compliant and why.'],
        },
      };
    }
    const p = view.projects[0]!;
    const detail = view.project;
    const items: ListItem[] = detail.servers.slice(0, CHAT_LIST_LIMIT).map((s) => ({
      text: `${s.server}: ${s.state} for ${shortAge(now.getTime() - s.since.getTime())}`,
      detail: [
        ...s.reasons.map((r) => reasonText(r, detail.standards, now)),
        ...(s.owner ? [`owner @${s.owner}`] : []),
      ].join(' · '),
    }));
    const shown = Math.min(detail.total, CHAT_LIST_LIMIT);
    return {
      reply: {
        visibility: 'private',
        tone: p.nonCompliant > 0 ? 'warning' : p.unknown > 0 ? 'info' : 'success',
        header: `Compliance of ${detail.slug}: ${share(p.compliant, p.servers)}`,
        text:
          `${p.compliant} of ${p.servers} servers compliant, ${p.nonCompliant} non-compliant, ` +
          `${p.unknown} unknown (stale or never scanned); ${p.pendingSecurity} security updates pending.`,
        ...(items.length ? { items } : {}),
        context: [
          `Standards: security updates within ${detail.standards.securityPatchDays}d, updated within ${detail.standards.updateAlertDays}d, scans fresher than ${shortAge(detail.standards.staleAfterMs)}.`,
          ...(detail.total > shown
            ? [`Showing ${shown} of ${detail.total} servers that are not compliant.`]
            : []),
        ],
      },
    };
  },
};

export const complianceDigestCommand: CommandSpec = {
  path: ['compliance', 'digest'],
  usage: 'compliance digest <project>',
  summary: "Post the project's compliance digest, with its 30-day chart, to its channel now",
  permission: 'compliance:read',
  maxPositional: 1,
  async run(args, ctx): Promise<InteractionResult> {
    const slug = args.positional[0];
    if (!slug) {
      throw new AppError('bad_request', 'Say which project.\nUsage: /warden compliance digest <project>');
    }
    const { day } = await sendDigestNow(ctx.deps, ctx.actor, slug);
    ctx.deps.kickOutbox?.();
    return {
      reply: {
        visibility: 'private',
        tone: 'success',
        text: `The compliance digest of ${slug} for ${day} is on its way to the project's channel.`,
      },
    };
  },
};

export const complianceCommands: CommandSpec[] = [complianceDigestCommand, complianceCommand];
