import { z } from 'zod';
import { ConfigError, secretFromEnv } from '../../lib/config.js';

/**
 * Mail settings, read from the environment by lib/config.ts's loadConfig. Unset SMTP_URL: Warden
 * sends no e-mail (scheduled reports are then only downloadable).
 *
 *   SMTP_URL   smtp://user:password@mail.example.com:587 (STARTTLS when the server offers it) or
 *              smtps://…:465 (TLS from the start); a secret, so SMTP_URL_FILE works too
 *   MAIL_FROM  the sender, e.g. "Warden <warden@example.com>"; required with SMTP_URL
 */
export interface MailConfig {
  smtpUrl: string;
  from: string;
}

const schema = z.object({
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\/[^\s]+$/, 'SMTP_URL must look like smtp://user:password@host:587 or smtps://…:465')
    .refine((u) => {
      try {
        return new URL(u).hostname !== '';
      } catch {
        return false;
      }
    }, 'SMTP_URL must name a host, e.g. smtp://mail.example.com:587')
    .optional(),
  MAIL_FROM: z
    .string()
    .max(320)
    .regex(
      /^(?:[^<>\r\n]*<[^\s@<>]+@[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+)$/,
      'MAIL_FROM must be an address such as warden@example.com or "Warden <warden@example.com>"',
    )
    .optional(),
});

/**
 * @example
 * parseMailConfig({ SMTP_URL: 'smtp://mail.example.com:587', MAIL_FROM: 'warden@example.com' })
 */
export function parseMailConfig(env: Record<string, string | undefined>): MailConfig | undefined {
  const parsed = schema.safeParse({ SMTP_URL: secretFromEnv(env, 'SMTP_URL'), MAIL_FROM: env.MAIL_FROM });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    // Never echo the URL: it may carry the SMTP password.
    throw new ConfigError(`invalid ${String(issue.path[0])}: ${issue.message}`);
  }
  const { SMTP_URL: smtpUrl, MAIL_FROM: from } = parsed.data;
  if (!smtpUrl) return undefined;
  if (!from) {
    throw new ConfigError(
      'missing required value MAIL_FROM: set the sender of report e-mails, e.g. MAIL_FROM="Warden <warden@example.com>"',
    );
  }
  return { smtpUrl, from };
}
