/**
 * Grouped bar charts of benchmark rows as plain SVG strings (no dependencies): one panel for
 * jobs/s, one for peak PSS, bars grouped by concurrency and coloured by strategy.
 */
import fs from 'node:fs';

/** One bar per panel: a strategy at a concurrency. */
export interface ChartRow {
  readonly strategy: string;
  readonly concurrency: number;
  readonly jobsPerSec: number;
  readonly peakPssMiB: number;
}

const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const WIDTH = 960;
const PANEL_HEIGHT = 300;
const MARGIN = { left: 64, right: 16, top: 36, bottom: 40 };
const LEGEND_ROW = 20;

/** Escapes text for SVG content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A round upper bound for an axis whose largest value is `max`: 1, 2 or 5 times a power of ten, times a whole number of ticks. */
function niceMax(max: number): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.2 };
  const rough = max / 5;
  const pow = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= rough)!;
  return { top: Math.ceil(max / step) * step, step };
}

/** Short label of a value: no more than three significant digits. */
function label(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function panel(rows: readonly ChartRow[], value: (r: ChartRow) => number, title: string, y0: number, strategies: readonly string[], concurrencies: readonly number[]): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const top = y0 + MARGIN.top;
  const { top: yMax, step } = niceMax(Math.max(0, ...rows.map(value)));
  const y = (v: number) => top + plotH - (v / yMax) * plotH;
  const groupW = plotW / Math.max(1, concurrencies.length);
  const barW = (groupW * 0.8) / Math.max(1, strategies.length);
  const out: string[] = [`<text x="${MARGIN.left}" y="${y0 + 22}" font-size="14" font-weight="bold">${escapeXml(title)}</text>`];
  for (let i = 0; i <= Math.round(yMax / step); i++) {
    const v = i * step;
    out.push(
      `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`,
      `<text x="${MARGIN.left - 6}" y="${(y(v) + 4).toFixed(1)}" font-size="11" text-anchor="end">${step >= 1 ? v.toFixed(0) : label(v)}</text>`,
    );
  }
  concurrencies.forEach((c, gi) => {
    const gx = MARGIN.left + gi * groupW + groupW * 0.1;
    out.push(`<text x="${(MARGIN.left + (gi + 0.5) * groupW).toFixed(1)}" y="${top + plotH + 20}" font-size="12" text-anchor="middle">c = ${c}</text>`);
    strategies.forEach((s, si) => {
      const row = rows.find((r) => r.concurrency === c && r.strategy === s);
      if (!row) return;
      const v = value(row);
      const x = gx + si * barW;
      out.push(
        `<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW * 0.9).toFixed(1)}" height="${(top + plotH - y(v)).toFixed(1)}" fill="${COLORS[si % COLORS.length]}"><title>${escapeXml(`${s}, c=${c}: ${label(v)}`)}</title></rect>`,
        `<text x="${(x + barW * 0.45).toFixed(1)}" y="${(y(v) - 3).toFixed(1)}" font-size="10" text-anchor="middle">${label(v)}</text>`,
      );
    });
  });
  out.push(`<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`);
  return out.join('\n');
}

/** The SVG document: a legend, then the jobs/s panel and the peak PSS panel. */
export function churnChartSvg(rows: readonly ChartRow[], title: string): string {
  const strategies = [...new Set(rows.map((r) => r.strategy))];
  const concurrencies = [...new Set(rows.map((r) => r.concurrency))].sort((a, b) => a - b);
  const perLine = 4;
  const legendH = 36 + Math.ceil(strategies.length / perLine) * LEGEND_ROW;
  const height = legendH + 2 * PANEL_HEIGHT;
  const legend = strategies.map((s, i) => {
    const x = MARGIN.left + (i % perLine) * ((WIDTH - MARGIN.left) / perLine);
    const y = 36 + Math.floor(i / perLine) * LEGEND_ROW;
    return `<rect x="${x.toFixed(1)}" y="${y - 10}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/><text x="${(x + 18).toFixed(1)}" y="${y}" font-size="12">${escapeXml(s)}</text>`;
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${MARGIN.left}" y="18" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
    ...legend,
    panel(rows, (r) => r.jobsPerSec, 'jobs/s (higher is better)', legendH, strategies, concurrencies),
    panel(rows, (r) => r.peakPssMiB, 'peak PSS, MiB (lower is better)', legendH + PANEL_HEIGHT, strategies, concurrencies),
    '</svg>',
    '',
  ].join('\n');
}

/** Writes {@link churnChartSvg} to `file` and returns the path. */
export function writeChurnChart(file: string, rows: readonly ChartRow[], title: string): string {
  fs.writeFileSync(file, churnChartSvg(rows, title));
  return file;
}
