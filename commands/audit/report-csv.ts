import type { AuditReport } from './report-types.js';

/**
 * The audit report as one CSV table (RFC 4180, CRLF line ends), one row per item, every section
 * in the same columns so a spreadsheet can filter by `section`. A cell that a spreadsheet would
 * run as a formula (starting with = + - @, tab or CR) gets a leading apostrophe: server output is
 * attacker-controlled text, and must never become a formula on an auditor's machine.
 */
export const CSV_COLUMNS = [
  'section',
  'at',
  'server',
  'login',
  'fingerprint',
  'match',
  'flagged',
  'subject',
  'detail',
  'chase',
] as const;

type Cell = string | number | boolean | Date | null | undefined;

function cell(value: Cell): string {
  let text: string;
  if (value === null || value === undefined) text = '';
  else if (value instanceof Date) text = value.toISOString();
  else text = String(value);
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

function row(values: Record<(typeof CSV_COLUMNS)[number], Cell>): string[] {
  return CSV_COLUMNS.map((c) => cell(values[c]));
}

/** The rows (without the header), as they read back from the CSV. */
export function csvRows(report: AuditReport): string[][] {
  const out: string[][] = [];
  const blank = {
    at: null,
    server: null,
    login: null,
    fingerprint: null,
    match: null,
    flagged: null,
    subject: null,
    detail: null,
    chase: null,
  };
  for (const s of report.servers) {
    out.push(
      row({
        ...blank,
        section: 'server',
        server: s.name,
        match: s.collected ? 'collected' : 'not collected',
        flagged: !s.collected,
        subject: s.project,
        detail: s.gaps.join('; '),
        chase: s.owner,
      }),
    );
  }
  for (const c of report.commands) {
    out.push(
      row({
        ...blank,
        section: 'command',
        at: c.at,
        server: c.server,
        match: c.source,
        subject: c.command,
        detail: `for ${c.for} (${c.ref})`,
        chase: c.for,
      }),
    );
  }
  for (const l of report.logins) {
    out.push(
      row({
        section: 'login',
        at: l.at,
        server: l.server,
        login: l.login,
        fingerprint: l.fingerprint,
        match: l.match,
        flagged: l.flagged,
        subject: `from ${l.from} port ${l.port} (${l.keyType})`,
        detail: l.note,
        chase: l.user,
      }),
    );
  }
  for (const a of report.accounts) {
    out.push(
      row({
        ...blank,
        section: 'account',
        server: a.server,
        login: a.user,
        match: a.known ? 'known' : 'unknown',
        flagged: !a.known,
        subject: `uid ${a.uid} shell ${a.shell}`,
        detail: a.note,
      }),
    );
  }
  for (const k of report.authorizedKeys) {
    out.push(
      row({
        section: 'authorized-key',
        at: null,
        server: k.server,
        login: k.login,
        fingerprint: k.fingerprint,
        match: k.match,
        flagged: k.flagged,
        subject: `${k.file}:${k.line}${k.comment ? ` ${k.comment}` : ''}`,
        detail: k.note,
        chase: k.user,
      }),
    );
  }
  for (const k of report.keys) {
    const next = k.nextRotationAt ? `; next ${k.nextRotationAt.toISOString()}` : '';
    out.push(
      row({
        ...blank,
        section: 'key',
        at: k.lastRotatedAt,
        server: k.servers.join(' '),
        fingerprint: k.fingerprint,
        match: k.kind,
        flagged: k.overdue,
        subject: k.purpose,
        detail: `${k.rotationPolicy}${next}${k.overdue ? ' (OVERDUE)' : ''}`,
        chase: k.owner,
      }),
    );
  }
  for (const f of report.findings) {
    out.push(
      row({
        ...blank,
        section: 'finding',
        server: f.server,
        match: f.severity,
        flagged: true,
        subject: f.subject,
        detail: f.message,
        chase: f.chase,
      }),
    );
  }
  return out;
}

function quote(text: string): string {
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function toCsv(report: AuditReport): string {
  return [[...CSV_COLUMNS], ...csvRows(report)].map((r) => r.map(quote).join(',')).join('\r\n') + '\r\n';
}

/** RFC 4180 reader (quoted fields, doubled quotes, CRLF or LF), for tests and API clients' checks. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let field = '';
  let current: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      current.push(field);
      field = '';
    } else if (ch === '\n' || (ch === '\r' && text[i + 1] === '\n')) {
      if (ch === '\r') i++;
      current.push(field);
      rows.push(current);
      current = [];
      field = '';
    } else field += ch;
  }
  if (quoted) throw new Error('CSV ends inside a quoted field');
  if (field !== '' || current.length > 0) {
    current.push(field);
    rows.push(current);
  }
  return rows;
}
