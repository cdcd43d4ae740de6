/**
 * The `Mailer` port: what Warden asks of an e-mail system. One implementation (SMTP through
 * nodemailer, ./index.ts); tests use a local SMTP server (test/fakes/smtp.ts).
 */
export interface MailAttachment {
  filename: string;
  contentType: string;
  content: Buffer;
}

export interface MailMessage {
  to: readonly string[];
  subject: string;
  text: string;
  attachments?: readonly MailAttachment[];
}

export interface SentMail {
  messageId: string;
  /** Recipients the server accepted. */
  accepted: string[];
}

export interface Mailer {
  send(message: MailMessage): Promise<SentMail>;
  close(): void;
}
