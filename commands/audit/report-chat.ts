import type { InteractionResult, Reply } from '../../bot/chat/model.js';
import { getProjectBySlug } from '../../storage/inventory.js';
import { formatDuration, parseDuration } from '../grammar.js';
import type { CommandSpec } from '../registry.js';
import { type AuditReport, buildAuditReport, DEFAULT_SINCE_MS } from './report.js';

/**
 * `/warden audit report [project|server] [since 7d]`: the post-action audit, summarised for chat.
 * The full report (JSON or CSV) is one link away, on the API.
 */
const SHOWN_FINDINGS = 15;
const SEVERITY_ORDER = { high: 0, medium: 1, low: 2 } as const;

export function summaryReply(
  report: AuditReport,
  options: { label: string; period: string; apiUrl: string },
): Reply {
  const collected = report.servers.filter((s) => s.collected).length;
  const flaggedLogins = report.logins.filter((l) => l.flagged).length;
  const unknownAccounts = report.accounts.filter((a) => !a.known).length;
  const flaggedKeys = report.authorizedKeys.filter((k) => k.flagged).length;
  const overdue = report.keys.filter((k) => k.overdue).length;
  const findings = [...report.findings].sort(
    (a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity],
  );
  return {
    visibility: 'private',
    tone: findings.some((f) => f.severity === 'high') ? 'warning' : 'info',
    header: `Audit report: ${options.label} (${options.period})`,
    fields: [
      { label: 'Servers read', value: `${collected} of ${report.servers.length}` },
      { label: 'Commands Warden ran', value: String(report.commands.length) },
      {
        label: 'Logins',
        value: `${report.logins.length} (${flaggedLogins} matching no grant or service key)`,
      },
      { label: 'Unknown login-shell accounts', value: String(unknownAccounts) },
      { label: 'authorized_keys entries', value: `${report.authorizedKeys.length} (${flaggedKeys} flagged)` },
      { label: 'Keys overdue for rotation', value: `${overdue} of ${report.keys.length}` },
    ],
    ...(findings.length
      ? {
          items: findings.slice(0, SHOWN_FINDINGS).map((f) => ({
            text: `[${f.severity}] ${f.server ? `${f.server}: ` : ''}${f.subject}`,
            detail: `${f.message}${f.chase ? ` · chase: @${f.chase}` : ''}`,
          })),
        }
      : { text: 'No findings: every login, account and key matched what Warden knows.' }),
    context: [
      `${findings.length} finding${findings.length === 1 ? '' : 's'}${findings.length > SHOWN_FINDINGS ? `, ${SHOWN_FINDINGS} shown` : ''}. Full report: ${options.apiUrl} (add format=csv for CSV).`,
    ],
    moreUrl: options.apiUrl,
  };
}

export const auditReportCommand: CommandSpec = {
  path: ['audit', 'report'],
  usage: 'audit report [project|server] [since <duration>]',
  summary:
    'Post-action audit: commands Warden ran, logins by grant, unknown accounts and keys, overdue rotations',
  permission: 'audit:read',
  keywords: ['since'],
  maxPositional: 1,
  async run(args, ctx): Promise<InteractionResult> {
    const name = args.positional[0];
    const sinceMs = args.keywords.since ? parseDuration(args.keywords.since) : DEFAULT_SINCE_MS;
    const since = new Date(ctx.deps.clock.now().getTime() - sinceMs);
    const isProject = name !== undefined && (await getProjectBySlug(ctx.deps.sql, name)) !== undefined;
    const input =
      name === undefined ? { since } : isProject ? { project: name, since } : { server: name, since };
    const report = await buildAuditReport(ctx.deps, ctx.actor, input);
    const query = new URLSearchParams({
      ...(name === undefined ? {} : isProject ? { project: name } : { server: name }),
      since: since.toISOString(),
    });
    return {
      reply: summaryReply(report, {
        label: name === undefined ? 'all your servers' : isProject ? `project ${name}` : `server ${name}`,
        period: `last ${formatDuration(sinceMs)}`,
        apiUrl: `${ctx.deps.config.publicUrl}/api/v1/audit/report?${query}`,
      }),
    };
  },
};
