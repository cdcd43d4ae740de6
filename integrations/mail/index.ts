import nodemailer from 'nodemailer';
import { z } from 'zod';
import { AppError, IntegrationError } from '../../lib/errors.js';
import type { MailConfig } from './config.js';
import type { Mailer, MailMessage, SentMail } from './types.js';

export type { MailConfig } from './config.js';
export { parseMailConfig } from './config.js';
export type * from './types.js';

/** Options for tests and special set-ups; production passes none. */
export interface MailerOptions {
  /** Seconds to wait for the server to answer (default 30). */
  timeoutSeconds?: number;
}

const Address = z.email();
const MAX_RECIPIENTS = 100;
const MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024;

function check(message: MailMessage): void {
  if (message.to.length === 0) throw new AppError('bad_request', 'an e-mail needs at least one recipient');
  if (message.to.length > MAX_RECIPIENTS) {
    throw new AppError('bad_request', `an e-mail may have at most ${MAX_RECIPIENTS} recipients`);
  }
  for (const to of message.to) {
    if (!Address.safeParse(to).success) throw new AppError('bad_request', `"${to}" is not an e-mail address`);
  }
  const size = (message.attachments ?? []).reduce((n, a) => n + a.content.length, 0);
  if (size > MAX_ATTACHMENT_BYTES) {
    throw new AppError('bad_request', `the attachments are ${Math.round(size / 1e6)} MB; the limit is 20 MB`);
  }
}

/**
 * E-mail over SMTP with nodemailer: one pooled transport per process. SMTP answers 4xx are
 * temporary (IntegrationError with retryAfter, so the outbox tries again), 5xx are not.
 *
 * @example
 * const mailer = createMailer(config.mail);
 * await mailer.send({ to: ['ops@example.com'], subject: 'Compliance report', text: '…',
 *   attachments: [{ filename: 'report.pdf', contentType: 'application/pdf', content: pdf }] });
 */
export function createMailer(config: MailConfig, options: MailerOptions = {}): Mailer {
  const timeout = (options.timeoutSeconds ?? 30) * 1000;
  const transport = nodemailer.createTransport(
    {
      url: config.smtpUrl,
      pool: true,
      maxConnections: 2,
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
    },
    { from: config.from },
  );
  return {
    async send(message): Promise<SentMail> {
      check(message);
      try {
        const info = await transport.sendMail({
          to: [...message.to],
          // A header value never carries a line break (header injection).
          subject: message.subject.replace(/[\r\n]+/g, ' ').slice(0, 250),
          text: message.text,
          attachments: (message.attachments ?? []).map((a) => ({
            filename: a.filename.replace(/[^A-Za-z0-9._-]/g, '_'),
            contentType: a.contentType,
            content: a.content,
          })),
        });
        return { messageId: String(info.messageId), accepted: (info.accepted ?? []).map(String) };
      } catch (error) {
        const code = (error as { responseCode?: number }).responseCode;
        const temporary = code === undefined || (code >= 400 && code < 500);
        throw new IntegrationError(
          'mail',
          `the mail server refused or failed the message${code ? ` (SMTP ${code})` : ''}: ${(error as Error).message}`,
          { cause: error, ...(temporary ? { retryAfter: 300 } : {}) },
        );
      }
    },
    close() {
      transport.close();
    },
  };
}
