import { createRequire } from 'node:module';
import PDFDocument from 'pdfkit';
import type { Cell, Report } from './types.js';

/**
 * A report as PDF (pdfkit, pure JavaScript): title, scope and period, the headline figures, the
 * chart when there is one, then the table, its header repeated on every page. Text is set in
 * DejaVu Sans (embedded), so names in any script come out as written and as searchable text.
 */
const MARGIN = 36;
const FONT = 'DejaVu';
const BOLD = 'DejaVu-Bold';
const TABLE_SIZE = 7;
const PAD = 2;
const MAX_CELL = 400;

function fonts(): { regular: string; bold: string } {
  const require = createRequire(import.meta.url);
  return {
    regular: require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf'),
    bold: require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf'),
  };
}

function stamp(d: Date): string {
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function text(value: Cell): string {
  if (value === null) return '';
  // In the table, times are short (the notes say they are UTC).
  if (value instanceof Date) return value.toISOString().slice(0, 16).replace('T', ' ');
  const s = String(value);
  return s.length > MAX_CELL ? `${s.slice(0, MAX_CELL - 1)}…` : s;
}

export function toPdf(report: Report): Promise<Buffer> {
  const doc = new PDFDocument({
    size: 'A4',
    layout: 'landscape',
    margin: MARGIN,
    info: { Title: report.title, Author: 'Warden', CreationDate: report.generatedAt },
  });
  const f = fonts();
  doc.registerFont(FONT, f.regular);
  doc.registerFont(BOLD, f.bold);
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });

  const width = doc.page.width - 2 * MARGIN;
  doc.font(BOLD).fontSize(16).text(report.title);
  const scope =
    report.scope === 'all'
      ? 'all projects'
      : `project${report.scope.length === 1 ? '' : 's'} ${report.scope.join(', ') || '(none)'}`;
  doc
    .font(FONT)
    .fontSize(9)
    .fillColor('#555555')
    .text(
      `Scope: ${scope} · Period: ${stamp(report.period.since)} to ${stamp(report.period.until)} · Generated ${stamp(report.generatedAt)} by Warden`,
    );
  doc.moveDown(0.6).fillColor('#000000');
  for (const s of report.summary) {
    doc.font(BOLD).fontSize(10).text(`${s.label}: `, { continued: true }).font(FONT).text(s.value);
  }
  doc.moveDown(0.5);
  if (report.chart) {
    const height = Math.min(230, doc.page.height - doc.y - MARGIN - 60);
    doc.image(report.chart, MARGIN, doc.y, { fit: [width, height], align: 'center' });
    doc.y += height + 8;
  }

  const weights = report.columns.map((c) => c.width ?? 1);
  const total = weights.reduce((a, b) => a + b, 0);
  const widths = weights.map((w) => (w / total) * width);
  const bottom = doc.page.height - MARGIN;

  const rowHeight = (cells: string[], font: string): number => {
    doc.font(font).fontSize(TABLE_SIZE);
    return Math.max(...cells.map((c, i) => doc.heightOfString(c, { width: widths[i]! - 2 * PAD }))) + 2 * PAD;
  };
  const drawRow = (cells: string[], font: string, shade: string | null): void => {
    const h = rowHeight(cells, font);
    if (doc.y + h > bottom) {
      doc.addPage();
      drawHeader();
    }
    const y = doc.y;
    if (shade) doc.rect(MARGIN, y, width, h).fill(shade).fillColor('#000000');
    let x = MARGIN;
    doc.font(font).fontSize(TABLE_SIZE);
    cells.forEach((c, i) => {
      doc.text(c, x + PAD, y + PAD, { width: widths[i]! - 2 * PAD, lineBreak: true });
      x += widths[i]!;
    });
    doc.y = y + h;
    doc.x = MARGIN;
  };
  const header = report.columns.map((c) => c.label);
  function drawHeader(): void {
    drawRow(header, BOLD, '#e8e8e8');
  }

  if (report.rows.length === 0) {
    doc.font(FONT).fontSize(10).text('Nothing to report for this scope and period.');
  } else {
    drawHeader();
    report.rows.forEach((row, i) => {
      drawRow(
        report.columns.map((c) => text(row[c.key] ?? null)),
        FONT,
        i % 2 === 1 ? '#f6f6f6' : null,
      );
    });
  }
  doc.moveDown(0.8).font(FONT).fontSize(8).fillColor('#555555');
  for (const note of report.notes) doc.text(note, MARGIN, doc.y, { width });
  doc.end();
  return done;
}
