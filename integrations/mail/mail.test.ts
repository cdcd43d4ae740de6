import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntegrationError } from '../../lib/errors.js';
import { type FakeSmtp, startFakeSmtp } from '../../test/fakes/smtp.js';
import { parseMailConfig } from './config.js';
import { createMailer } from './index.js';

describe('mail settings', () => {
  it('sends nothing when SMTP_URL is unset', () => {
    expect(parseMailConfig({})).toBeUndefined();
  });

  it('needs MAIL_FROM with SMTP_URL, and says how to set it', () => {
    expect(() => parseMailConfig({ SMTP_URL: 'smtp://mail.example.com:587' })).toThrow(
      /missing required value MAIL_FROM: .*MAIL_FROM="Warden <warden@example.com>"/,
    );
  });

  it('reads SMTP_URL from a file and never echoes a bad URL (it may hold a password)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'wd-mail-'));
    writeFileSync(path.join(dir, 'url'), 'smtps://u:p@mail.example.com:465\n');
    expect(
      parseMailConfig({ SMTP_URL_FILE: path.join(dir, 'url'), MAIL_FROM: 'Warden <w@example.com>' }),
    ).toEqual({
      smtpUrl: 'smtps://u:p@mail.example.com:465',
      from: 'Warden <w@example.com>',
    });
    expect(() => parseMailConfig({ SMTP_URL: 'http://u:s3cret@x', MAIL_FROM: 'w@example.com' })).toThrow(
      /^invalid SMTP_URL: SMTP_URL must look like/,
    );
    expect(() => parseMailConfig({ SMTP_URL: 'http://u:s3cret@x', MAIL_FROM: 'w@example.com' })).not.toThrow(
      /s3cret/,
    );
    expect(() =>
      parseMailConfig({ SMTP_URL: 'smtp://x', SMTP_URL_FILE: '/nope', MAIL_FROM: 'w@example.com' }),
    ).toThrow('set either SMTP_URL or SMTP_URL_FILE, not both');
    expect(() => parseMailConfig({ SMTP_URL: 'smtp://x:25', MAIL_FROM: 'not an address' })).toThrow(
      /invalid MAIL_FROM/,
    );
  });
});

describe('sending through SMTP', () => {
  let smtp: FakeSmtp;

  beforeAll(async () => {
    smtp = await startFakeSmtp({
      allowedRecipients: ['ops@example.com', 'cto@example.com'],
      auth: { user: 'warden', pass: 'p@ss word' },
    });
  });
  afterAll(async () => {
    await smtp.close();
  });

  it('delivers text and attachments byte for byte, logging in with the URL credentials', async () => {
    const mailer = createMailer(
      { smtpUrl: smtp.url, from: 'Warden <warden@example.com>' },
      { timeoutSeconds: 5 },
    );
    const pdf = Buffer.concat([Buffer.from('%PDF-1.3\n'), Buffer.from([0, 1, 2, 254, 255])]);
    const sent = await mailer.send({
      to: ['ops@example.com', 'cto@example.com'],
      subject: 'Weekly report\r\nBcc: attacker@example.com',
      text: 'Hello ünïcødé',
      attachments: [
        { filename: 'report.pdf', contentType: 'application/pdf', content: pdf },
        {
          filename: '../../etc/passwd;.csv',
          contentType: 'text/csv',
          content: Buffer.from('a,b\r\n1,2\r\n'),
        },
      ],
    });
    mailer.close();
    expect(sent.accepted.sort()).toEqual(['cto@example.com', 'ops@example.com']);
    const [mail] = await smtp.waitFor(1);
    expect(mail!.to.sort()).toEqual(['cto@example.com', 'ops@example.com']);
    expect(mail!.from).toBe('warden@example.com');
    expect(mail!.subject).toBe('Weekly report Bcc: attacker@example.com');
    expect(mail!.headers.bcc).toBeUndefined();
    expect(mail!.text.trim()).toBe('Hello ünïcødé');
    expect(mail!.attachments.map((a) => [a.filename, a.contentType])).toEqual([
      ['report.pdf', 'application/pdf'],
      ['.._.._etc_passwd_.csv', 'text/csv'],
    ]);
    expect(mail!.attachments[0]!.content.equals(pdf)).toBe(true);
    expect(smtp.unexpected).toEqual([]);
  });

  it('fails with an integration error when the server refuses a recipient', async () => {
    const mailer = createMailer({ smtpUrl: smtp.url, from: 'warden@example.com' }, { timeoutSeconds: 5 });
    const error = await mailer
      .send({ to: ['stranger@example.com'], subject: 's', text: 't' })
      .catch((e: unknown) => e);
    mailer.close();
    expect(error).toBeInstanceOf(IntegrationError);
    expect((error as IntegrationError).message).toMatch(/refused or failed/);
    expect(smtp.unexpected).toEqual(['stranger@example.com']);
    smtp.unexpected.length = 0;
  });

  it('refuses a malformed recipient before talking to the server', async () => {
    const mailer = createMailer({ smtpUrl: smtp.url, from: 'warden@example.com' });
    await expect(
      mailer.send({ to: ['ops@example.com>\r\nRCPT TO:<x@y.z'], subject: 's', text: 't' }),
    ).rejects.toThrow(/is not an e-mail address/);
    mailer.close();
  });
});
