import { createRequire } from 'node:module';
import { createCanvas, GlobalFonts } from '@napi-rs/canvas';
import { Chart, type ChartConfiguration, type Plugin, registerables } from 'chart.js';
import type { TrendPoint } from './rollup.js';

/**
 * The digest's trend chart, drawn by Chart.js on a Skia canvas (@napi-rs/canvas, whose npm
 * package carries the native binary: nothing is downloaded at install) and encoded to PNG.
 * Text uses DejaVu Sans from the dejavu-fonts-ttf package, so the chart looks the same on a slim
 * container image without system fonts as on a desktop.
 */
export const CHART_WIDTH = 900;
export const CHART_HEIGHT = 420;
const FONT = 'Warden Sans';

let ready = false;
/** Chart.js registries and the font table are process-wide; fill them once, on first use. */
function prepare(): void {
  if (ready) return;
  Chart.register(...registerables);
  const require = createRequire(import.meta.url);
  GlobalFonts.registerFromPath(require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf'), FONT);
  GlobalFonts.registerFromPath(require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf'), FONT);
  ready = true;
}

const whiteBackground: Plugin<'bar' | 'line'> = {
  id: 'warden-background',
  beforeDraw(chart) {
    const ctx = chart.ctx;
    ctx.save();
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, chart.width, chart.height);
    ctx.restore();
  },
};

const round1 = (n: number | null) => (n === null ? null : Math.round(n * 10) / 10);

function config(points: readonly TrendPoint[], title: string): ChartConfiguration<'bar' | 'line'> {
  const font = { family: FONT, size: 12 };
  return {
    type: 'bar',
    data: {
      labels: points.map((p) => p.day.slice(5)),
      datasets: [
        {
          type: 'line',
          label: 'Compliant servers (%)',
          data: points.map((p) => round1(p.compliancePct)),
          yAxisID: 'pct',
          borderColor: '#2e7d32',
          backgroundColor: '#2e7d32',
          borderWidth: 3,
          pointRadius: 2,
          tension: 0.2,
          spanGaps: true,
          order: 0,
        },
        {
          type: 'line',
          label: 'Mean time to patch (days)',
          data: points.map((p) => round1(p.mttpDays)),
          yAxisID: 'days',
          borderColor: '#1565c0',
          backgroundColor: '#1565c0',
          borderDash: [6, 4],
          borderWidth: 2,
          pointRadius: 3,
          spanGaps: false,
          order: 1,
        },
        {
          type: 'bar',
          label: 'Pending security updates',
          data: points.map((p) => p.pendingSecurity),
          yAxisID: 'count',
          backgroundColor: 'rgba(230, 120, 40, 0.45)',
          borderColor: 'rgba(230, 120, 40, 0.9)',
          borderWidth: 1,
          order: 2,
        },
      ],
    },
    options: {
      responsive: false,
      animation: false,
      devicePixelRatio: 1,
      font,
      plugins: {
        title: { display: true, text: title, font: { ...font, size: 16, weight: 'bold' }, color: '#222' },
        legend: { position: 'bottom', labels: { font, color: '#333' } },
      },
      scales: {
        x: { ticks: { font, color: '#555', maxRotation: 0, autoSkipPadding: 8 }, grid: { display: false } },
        pct: {
          type: 'linear',
          position: 'left',
          min: 0,
          max: 100,
          title: { display: true, text: 'compliant %', font, color: '#2e7d32' },
          ticks: { font, color: '#555' },
        },
        count: {
          type: 'linear',
          position: 'right',
          beginAtZero: true,
          title: { display: true, text: 'pending security', font, color: '#b35a1f' },
          ticks: { font, color: '#555', precision: 0 },
          grid: { drawOnChartArea: false },
        },
        days: {
          type: 'linear',
          position: 'right',
          beginAtZero: true,
          title: { display: true, text: 'MTTP (days)', font, color: '#1565c0' },
          ticks: { font, color: '#555' },
          grid: { drawOnChartArea: false },
        },
      },
    },
    plugins: [whiteBackground],
  };
}

/** The 30-day trend (compliance %, pending security updates, mean time to patch) as a PNG. */
export async function renderTrendChart(
  points: readonly TrendPoint[],
  options: { title: string; width?: number; height?: number },
): Promise<Buffer> {
  prepare();
  const canvas = createCanvas(options.width ?? CHART_WIDTH, options.height ?? CHART_HEIGHT);
  const ctx = canvas.getContext('2d');
  // Chart.js draws on anything shaped like a 2D context; Skia's is one, without the DOM type.
  const chart = new Chart(ctx as unknown as CanvasRenderingContext2D, config(points, options.title));
  try {
    return await canvas.encode('png');
  } finally {
    chart.destroy();
  }
}

/** Width and height from a PNG's IHDR chunk; throws when the bytes are not a PNG. */
export function pngSize(png: Buffer): { width: number; height: number } {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (png.length < 24 || !png.subarray(0, 8).equals(signature) || png.toString('latin1', 12, 16) !== 'IHDR') {
    throw new Error('not a PNG image');
  }
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}
