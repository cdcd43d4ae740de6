/**
 * A report is structured rows first; CSV and PDF are renderings of the same rows (csv.ts,
 * pdf.ts), so the file a person downloads and the JSON an API client reads always agree.
 */
export const REPORT_KINDS = ['compliance', 'users', 'vendors', 'trends'] as const;
export type ReportKind = (typeof REPORT_KINDS)[number];
export const REPORT_FORMATS = ['json', 'csv', 'pdf'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export type Cell = string | number | boolean | Date | null;

export interface ReportColumn {
  key: string;
  label: string;
  /** Relative width in the PDF table (default 1). */
  width?: number;
}

export interface Report {
  kind: ReportKind;
  title: string;
  /** Which projects: their slugs, or 'all' for a global reader. */
  scope: string[] | 'all';
  generatedAt: Date;
  period: { since: Date; until: Date };
  /** A few headline figures, shown above the table. */
  summary: { label: string; value: string }[];
  columns: ReportColumn[];
  rows: Record<string, Cell>[];
  /** A PNG chart, when the report has one (trends). */
  chart?: Buffer;
  /** Said under the table: what the figures mean, what was left out. */
  notes: string[];
}

export function isReportKind(value: string): value is ReportKind {
  return (REPORT_KINDS as readonly string[]).includes(value);
}
