import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMailer } from '../../integrations/mail/index.js';
import type { Mailer } from '../../integrations/mail/types.js';
import { createOutboxWorker, type OutboxWorker } from '../../jobs/outbox-worker.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { type FakeSmtp, startFakeSmtp } from '../../test/fakes/smtp.js';
import { parseCsv } from '../audit/report-csv.js';
import { createReportMailDeliverer, queueDueReportEmails } from './email.js';
import { DAY, type ReportFleet, seedAlphaRollups, seedReportFleet } from './testing.js';

/**
 * Scheduled report e-mails end to end: the schedule's slot is claimed once, the outbox's mail
 * deliverer builds the reports and a real SMTP exchange delivers them to a local server, which
 * refuses anyone the project did not name.
 */
const db = useTestDatabase('reports-email');
const RECIPIENTS = ['ops@example.com', 'cto@example.com'];
const hasPdftotext = !spawnSync('pdftotext', ['-v']).error;

let deps: TestDeps;
let fleet: ReportFleet;
let smtp: FakeSmtp;
let mailer: Mailer;
let worker: OutboxWorker;

beforeAll(async () => {
  // The fake clock starts on Monday 2026-01-05 09:00 UTC: two hours after the Monday 07:00 slot.
  deps = createTestDeps(db.current.sql);
  fleet = await seedReportFleet(db.current.sql, deps.clock.now());
  await seedAlphaRollups(db.current.sql, fleet.alpha.id, deps.clock.now());
  await db.current.sql`
    update projects set settings = settings || ${db.current.sql.json({
      reports: {
        recipients: RECIPIENTS,
        schedule: { cron: '0 7 * * 1', timezone: 'UTC' },
        kinds: ['compliance', 'trends'],
      },
    })} where id = ${fleet.alpha.id}`;
  // beta names a recipient in a broken schedule: it must be skipped, not mailed.
  await db.current.sql`
    update projects set settings = settings || ${db.current.sql.json({
      reports: { recipients: ['nobody@example.com'], schedule: { cron: 'not a cron' } },
    })} where id = ${fleet.beta.id}`;
  smtp = await startFakeSmtp({ allowedRecipients: RECIPIENTS });
  mailer = createMailer({ smtpUrl: smtp.url, from: 'Warden <warden@example.com>' }, { timeoutSeconds: 5 });
  worker = createOutboxWorker({
    sql: db.current.sql,
    clock: deps.clock,
    log: deps.log,
    deliverers: { mail: createReportMailDeliverer(() => deps, mailer) },
  });
});
afterAll(async () => {
  await worker?.stop();
  mailer?.close();
  await smtp?.close();
});

function pdfText(pdf: Buffer): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'wd-mail-pdf-'));
  writeFileSync(path.join(dir, 'r.pdf'), pdf);
  return execFileSync('pdftotext', ['-layout', path.join(dir, 'r.pdf'), '-'], { encoding: 'utf8' });
}

describe('scheduled report e-mails', () => {
  it('mails the due slot once, to the project’s stakeholders, with each report as PDF and CSV', async () => {
    const queued = await queueDueReportEmails(deps);
    expect(queued.map((q) => [q.slug, q.slot.toISOString()])).toEqual([
      ['alpha', '2026-01-05T07:00:00.000Z'],
    ]);
    expect(await queueDueReportEmails(deps)).toEqual([]);

    const drained = await worker.drainOnce();
    expect(drained).toMatchObject({ delivered: 1, failed: 0 });
    const [mail] = await smtp.waitFor(1);
    expect(mail!.to.sort()).toEqual([...RECIPIENTS].sort());
    expect(mail!.subject).toBe('Warden reports: alpha, 1 (33.3%) compliant (2026-01-05)');
    expect(mail!.text).toContain('Compliance by server:');
    expect(mail!.text).toContain('Non-compliant: 1');
    expect(mail!.attachments.map((a) => [a.filename, a.contentType])).toEqual([
      ['warden-compliance-alpha-2026-01-05.pdf', 'application/pdf'],
      ['warden-compliance-alpha-2026-01-05.csv', 'text/csv'],
      ['warden-trends-alpha-2026-01-05.pdf', 'application/pdf'],
      ['warden-trends-alpha-2026-01-05.csv', 'text/csv'],
    ]);
    const csv = parseCsv(mail!.attachments[1]!.content.toString('utf8'));
    expect(csv[0]!.slice(0, 2)).toEqual(['Server', 'Project']);
    expect(csv.slice(1).map((r) => [r[0], r[6]])).toEqual([
      ['alpha-late', 'non-compliant'],
      ['alpha-new', 'unknown'],
      ['alpha-ok', 'compliant'],
    ]);
    if (hasPdftotext) {
      const text = pdfText(mail!.attachments[0]!.content);
      expect(text).toContain('Compliance by server');
      expect(text).toContain('alpha-late');
      expect(text).not.toContain('beta-stale');
    }
    expect(smtp.unexpected).toEqual([]);
    const [event] = await db.current.sql<{ data: { recipients: string[] } }[]>`
      select data from audit_events where action = 'report.email-queued'`;
    expect(event!.data.recipients).toEqual(RECIPIENTS);
  });

  it('sends nothing more the same week, and the next Monday’s slot once', async () => {
    deps.clock.advance(DAY);
    expect(await queueDueReportEmails(deps)).toEqual([]);
    deps.clock.advance(6 * DAY);
    expect((await queueDueReportEmails(deps)).map((q) => q.slot.toISOString())).toEqual([
      '2026-01-12T07:00:00.000Z',
    ]);
    await worker.drainOnce();
    expect(await smtp.waitFor(2)).toHaveLength(2);
    expect(smtp.unexpected).toEqual([]);
  });

  it('does not send a slot that is more than a day old (Warden was down)', async () => {
    deps.clock.advance(6 * DAY + 23 * 3_600_000);
    deps.clock.advance(2 * DAY);
    expect(await queueDueReportEmails(deps)).toEqual([]);
  });
});
