import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/**
 * A local SMTP server for tests (smtp-server on 127.0.0.1, a free port). It records every message
 * it accepts, parsed into headers, text and attachments, and is strict: a recipient that is not
 * in `allowedRecipients` is refused with 550 and recorded in `unexpected`, which the test asserts
 * is empty. Plain SMTP without TLS or auth unless `auth` is given.
 */
export interface ReceivedAttachment {
  filename: string;
  contentType: string;
  content: Buffer;
}

export interface ReceivedMail {
  from: string;
  to: string[];
  headers: Record<string, string>;
  subject: string;
  text: string;
  attachments: ReceivedAttachment[];
  raw: string;
}

export interface FakeSmtp {
  url: string;
  port: number;
  messages: ReceivedMail[];
  /** Recipients that were refused because the test did not expect them. */
  unexpected: string[];
  /** Resolves once `count` messages have arrived (or rejects after `withinMs`). */
  waitFor(count: number, withinMs?: number): Promise<ReceivedMail[]>;
  close(): Promise<void>;
}

export interface FakeSmtpOptions {
  allowedRecipients: readonly string[];
  /** Require this login (AUTH PLAIN/LOGIN); the URL then carries it. */
  auth?: { user: string; pass: string };
}

// ---------------------------------------------------------------- a small MIME reader (RFC 2045/2046)

function unfold(head: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const at = line.indexOf(':');
    if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
  }
  return headers;
}

function param(value: string, name: string): string | undefined {
  const match = new RegExp(`${name}\\*?=(?:"([^"]*)"|([^;\\s]+))`, 'i').exec(value);
  return match ? (match[1] ?? match[2]) : undefined;
}

/** Encoded words in headers (=?utf-8?Q?…?= and =?utf-8?B?…?=). */
function decodeWords(text: string): string {
  return text.replace(
    /=\?([^?]+)\?([QBqb])\?([^?]*)\?=\s*/g,
    (_all, _charset: string, enc: string, data: string) =>
      enc.toUpperCase() === 'B'
        ? Buffer.from(data, 'base64').toString('utf8')
        : Buffer.from(
            data
              .replace(/_/g, ' ')
              .replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16))),
            'latin1',
          ).toString('utf8'),
  );
}

function decodeBody(body: string, encoding: string | undefined): Buffer {
  switch ((encoding ?? '7bit').toLowerCase()) {
    case 'base64':
      return Buffer.from(body.replace(/\s+/g, ''), 'base64');
    case 'quoted-printable': {
      const soft = body.replace(/=\r\n/g, '');
      const bytes: number[] = [];
      for (let i = 0; i < soft.length; i++) {
        if (soft[i] === '=' && /^[0-9A-F]{2}$/i.test(soft.slice(i + 1, i + 3))) {
          bytes.push(Number.parseInt(soft.slice(i + 1, i + 3), 16));
          i += 2;
        } else bytes.push(soft.charCodeAt(i));
      }
      return Buffer.from(bytes);
    }
    default:
      return Buffer.from(body, 'latin1');
  }
}

interface Part {
  headers: Record<string, string>;
  body: string;
}

function split(entity: string): Part {
  const at = entity.indexOf('\r\n\r\n');
  return at < 0
    ? { headers: unfold(entity), body: '' }
    : { headers: unfold(entity.slice(0, at)), body: entity.slice(at + 4) };
}

function leaves(part: Part): Part[] {
  const type = part.headers['content-type'] ?? 'text/plain';
  const boundary = /^multipart\//i.test(type) ? param(type, 'boundary') : undefined;
  if (!boundary) return [part];
  const pieces = part.body.split(`--${boundary}`);
  // pieces[0] is the preamble; the last one starts with "--" (the close delimiter).
  return pieces
    .slice(1)
    .filter((p) => !p.startsWith('--'))
    .flatMap((p) => leaves(split(p.replace(/^\r\n/, '').replace(/\r\n$/, ''))));
}

export function parseMail(raw: string, from: string, to: string[]): ReceivedMail {
  const top = split(raw);
  let text = '';
  const attachments: ReceivedAttachment[] = [];
  for (const leaf of leaves(top)) {
    const type = leaf.headers['content-type'] ?? 'text/plain';
    const disposition = leaf.headers['content-disposition'] ?? '';
    const content = decodeBody(leaf.body, leaf.headers['content-transfer-encoding']);
    const filename = param(disposition, 'filename') ?? param(type, 'name');
    if (/^attachment/i.test(disposition) || filename) {
      attachments.push({
        filename: decodeWords(filename ?? ''),
        contentType: type.split(';')[0]!.trim(),
        content,
      });
    } else if (/^text\/plain/i.test(type)) {
      text += content.toString('utf8');
    }
  }
  return {
    from,
    to,
    headers: top.headers,
    subject: decodeWords(top.headers.subject ?? ''),
    text,
    attachments,
    raw,
  };
}

/**
 * @example
 * const smtp = await startFakeSmtp({ allowedRecipients: ['ops@example.com'] });
 * const mailer = createMailer({ smtpUrl: smtp.url, from: 'warden@example.com' });
 */
export async function startFakeSmtp(options: FakeSmtpOptions): Promise<FakeSmtp> {
  const allowed = new Set(options.allowedRecipients.map((r) => r.toLowerCase()));
  const messages: ReceivedMail[] = [];
  const unexpected: string[] = [];
  const waiters: (() => void)[] = [];
  const server = new SMTPServer({
    disabledCommands: options.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !options.auth,
    allowInsecureAuth: true,
    logger: false,
    size: 25 * 1024 * 1024,
    onAuth(auth, _session, callback) {
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) {
        callback(null, { user: auth.username });
      } else callback(new Error('535 authentication failed'));
    },
    onRcptTo(address, _session, callback) {
      if (allowed.has(address.address.toLowerCase())) return callback();
      unexpected.push(address.address);
      const error = new Error(`recipient ${address.address} was not expected by the test`) as Error & {
        responseCode: number;
      };
      error.responseCode = 550;
      return callback(error);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        const to = session.envelope.rcptTo.map((r) => r.address);
        messages.push(parseMail(Buffer.concat(chunks).toString('latin1'), from, to));
        for (const wake of waiters.splice(0)) wake();
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  const login = options.auth
    ? `${encodeURIComponent(options.auth.user)}:${encodeURIComponent(options.auth.pass)}@`
    : '';
  return {
    url: `smtp://${login}127.0.0.1:${port}`,
    port,
    messages,
    unexpected,
    async waitFor(count, withinMs = 10_000) {
      const deadline = Date.now() + withinMs;
      while (messages.length < count) {
        const left = deadline - Date.now();
        if (left <= 0)
          throw new Error(`expected ${count} e-mails, got ${messages.length} within ${withinMs} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return messages.slice(0, count);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
