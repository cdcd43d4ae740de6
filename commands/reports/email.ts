import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import type { MailAttachment, Mailer } from '../../integrations/mail/types.js';
import type { Deliverer } from '../../jobs/outbox-worker.js';
import { withTx } from '../../storage/db.js';
import type { OutboxItem } from '../../storage/outbox.js';
import { claimReportSlot, listProjectsWithReportRecipients } from '../../storage/reports.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import type { Actor } from '../rbac/authorize.js';
import { buildReport, renderReport } from './index.js';
import { REPORT_KINDS, type Report } from './types.js';

/**
 * Reports by e-mail on each project's schedule, to its stakeholders:
 *
 *   projects.settings.reports = {
 *     "recipients": ["ops@example.com"],
 *     "schedule": { "cron": "0 7 * * 1", "timezone": "Europe/Paris" },   default Mondays 07:00 UTC
 *     "kinds": ["compliance", "vendors", "trends"],                      "users" too, if wanted
 *     "formats": ["pdf", "csv"],
 *     "periodDays": 7
 *   }
 *
 * The job claims each due slot (report_deliveries) and writes one outbox item (channel 'mail') in
 * the same transaction, on the trail; the deliverer builds the reports and sends them after the
 * commit, with the outbox's retries. A slot more than a day old is not sent late.
 */
export const MAIL_CHANNEL = 'mail';
export const REPORT_EMAIL_KIND = 'report.email';
const CATCH_UP_MS = 24 * 3_600_000;
const DAY = 86_400_000;

export const ReportsSettings = z
  .object({
    recipients: z.array(z.email()).min(1).max(50),
    schedule: z
      .object({
        cron: z.string().min(9).max(100).default('0 7 * * 1'),
        timezone: z.string().max(64).default('UTC'),
      })
      .strict()
      .default({ cron: '0 7 * * 1', timezone: 'UTC' }),
    kinds: z.array(z.enum(REPORT_KINDS)).min(1).default(['compliance', 'vendors', 'trends']),
    formats: z
      .array(z.enum(['pdf', 'csv']))
      .min(1)
      .default(['pdf', 'csv']),
    periodDays: z.number().int().min(1).max(366).default(7),
  })
  .strict();
export type ReportsSettings = z.infer<typeof ReportsSettings>;

const EmailItem = z.object({
  projectId: z.number().int(),
  slug: z.string(),
  slot: z.string(),
  recipients: z.array(z.email()).min(1),
  kinds: z.array(z.enum(REPORT_KINDS)).min(1),
  formats: z.array(z.enum(['pdf', 'csv'])).min(1),
  periodDays: z.number().int().min(1),
});
type EmailItem = z.infer<typeof EmailItem>;

/** The last slot of the schedule at or before `now`, or undefined for a broken expression. */
export function lastSlot(settings: ReportsSettings, now: Date): Date | undefined {
  try {
    const it = CronExpressionParser.parse(settings.schedule.cron, {
      tz: settings.schedule.timezone,
      currentDate: new Date(now.getTime() + 1),
    });
    return it.prev().toDate();
  } catch {
    return undefined;
  }
}

/** Queues the e-mails whose slot has come; returns the projects queued (slug and slot). */
export async function queueDueReportEmails(deps: Deps): Promise<{ slug: string; slot: Date }[]> {
  const now = deps.clock.now();
  const queued: { slug: string; slot: Date }[] = [];
  for (const project of await listProjectsWithReportRecipients(deps.sql)) {
    const parsed = ReportsSettings.safeParse(project.settings.reports);
    if (!parsed.success) {
      deps.log.warn(
        { project: project.slug, issues: parsed.error.issues.slice(0, 3) },
        'reports settings are invalid; no e-mail sent',
      );
      continue;
    }
    const settings = parsed.data;
    const slot = lastSlot(settings, now);
    if (!slot || now.getTime() - slot.getTime() > CATCH_UP_MS) continue;
    const item: EmailItem = {
      projectId: project.id,
      slug: project.slug,
      slot: slot.toISOString(),
      recipients: settings.recipients,
      kinds: settings.kinds,
      formats: settings.formats,
      periodDays: settings.periodDays,
    };
    const claimed = await withTx(deps.sql, async (tx) => {
      if (
        !(await claimReportSlot(tx, {
          projectId: project.id,
          slot,
          recipients: settings.recipients,
          at: now,
        }))
      )
        return false;
      await recordEvent(
        tx,
        deps,
        {
          actor: 'job:reports-email',
          action: 'report.email-queued',
          projectId: project.id,
          data: { slot: item.slot, recipients: item.recipients, kinds: item.kinds, formats: item.formats },
        },
        [],
        [{ channel: MAIL_CHANNEL, kind: REPORT_EMAIL_KIND, payload: item }],
      );
      return true;
    });
    if (claimed) queued.push({ slug: project.slug, slot });
  }
  if (queued.length > 0) deps.kickOutbox?.();
  return queued;
}

/** The scheduled e-mail reads as the project's auditor would: that project, nothing else. */
function reportActor(projectId: number): Actor {
  return {
    user: { id: 0, handle: 'warden', displayName: 'Warden', email: null, disabled: false },
    bindings: [{ userId: 0, role: 'auditor', projectId }],
    via: 'job',
  };
}

export function emailText(slug: string, reports: readonly Report[], files: readonly string[]): string {
  const lines = [`Warden reports for project ${slug}.`, ''];
  for (const r of reports) {
    lines.push(`${r.title}:`);
    for (const s of r.summary) lines.push(`  ${s.label}: ${s.value}`);
    lines.push('');
  }
  lines.push(`Attached: ${files.join(', ')}.`, 'Sent on the project’s report schedule (settings.reports).');
  return lines.join('\n');
}

/** Builds the item's reports and sends them in one e-mail. */
export async function sendReportEmail(
  deps: Deps,
  mailer: Mailer,
  item: EmailItem,
): Promise<{ messageId: string }> {
  const until = deps.clock.now();
  const since = new Date(until.getTime() - item.periodDays * DAY);
  const actor = reportActor(item.projectId);
  const reports: Report[] = [];
  const attachments: MailAttachment[] = [];
  for (const kind of item.kinds) {
    const report = await buildReport(deps, actor, { kind, project: item.slug, since, until });
    reports.push(report);
    for (const format of item.formats) {
      const file = await renderReport(report, format);
      attachments.push({
        filename: file.filename,
        contentType: file.contentType.split(';')[0]!,
        content: file.body,
      });
    }
  }
  const headline = reports.find((r) => r.kind === 'compliance')?.summary.find((s) => s.label === 'Compliant');
  const sent = await mailer.send({
    to: item.recipients,
    subject: `Warden reports: ${item.slug}${headline ? `, ${headline.value} compliant` : ''} (${item.slot.slice(0, 10)})`,
    text: emailText(
      item.slug,
      reports,
      attachments.map((a) => a.filename),
    ),
    attachments,
  });
  return { messageId: sent.messageId };
}

/** The outbox deliverer for channel 'mail'; register it in bot/main.ts when SMTP is configured. */
export function createReportMailDeliverer(getDeps: () => Deps, mailer: Mailer): Deliverer {
  return {
    async deliver(item: OutboxItem) {
      if (item.kind !== REPORT_EMAIL_KIND)
        throw new Error(`the mail deliverer does not know ${item.kind} items`);
      return sendReportEmail(getDeps(), mailer, EmailItem.parse(item.payload));
    },
  };
}
