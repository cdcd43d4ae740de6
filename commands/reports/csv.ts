import type { Cell, Report } from './types.js';

/**
 * A report as CSV (RFC 4180: comma-separated, fields with a comma, quote or line break quoted,
 * quotes doubled, CRLF line ends), one header row of column labels. A text cell that a
 * spreadsheet would run as a formula (starting with = + - @, tab or CR) gets a leading
 * apostrophe: package names, server output and display names are other people's text, and must
 * never become a formula on the reader's machine. Numbers are Warden's own and stay numbers.
 */
export function csvCell(value: Cell): string {
  if (value === null) return '';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

export function csvQuote(field: string): string {
  return /[",\r\n]|^\s|\s$/.test(field) ? `"${field.replaceAll('"', '""')}"` : field;
}

export function toCsv(report: Pick<Report, 'columns' | 'rows'>): string {
  const lines = [report.columns.map((c) => csvQuote(c.label))];
  for (const row of report.rows) lines.push(report.columns.map((c) => csvQuote(csvCell(row[c.key] ?? null))));
  return `${lines.map((l) => l.join(',')).join('\r\n')}\r\n`;
}
