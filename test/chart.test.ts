import { describe, expect, it } from 'vitest';
import { churnChartSvg, escapeXml, type ChartRow } from '../benchmarks/chart.js';

const rows: ChartRow[] = [
  { strategy: 'cluster CONTEXT', concurrency: 1, jobsPerSec: 7.38, peakPssMiB: 224 },
  { strategy: 'ours <reuse> & "fast"', concurrency: 1, jobsPerSec: 12.97, peakPssMiB: 313 },
  { strategy: 'cluster CONTEXT', concurrency: 2, jobsPerSec: 9.1, peakPssMiB: 238 },
  { strategy: 'ours <reuse> & "fast"', concurrency: 2, jobsPerSec: 14.54, peakPssMiB: 383 },
  // A strategy missing at c=2 (failed or not run) leaves a gap, not a zero bar.
  { strategy: 'naive', concurrency: 1, jobsPerSec: 3.02, peakPssMiB: 199 },
];

describe('benchmarks/chart', () => {
  const svg = churnChartSvg(rows, 'churn <shell>');

  it('draws one bar per row in each of the two panels, plus one legend swatch per strategy', () => {
    const bars = svg.match(/<rect [^>]*><title>/g) ?? [];
    expect(bars).toHaveLength(rows.length * 2);
    const swatches = svg.match(/<rect [^>]*width="12" height="12"/g) ?? [];
    expect(swatches).toHaveLength(3);
    expect(svg).toContain('jobs/s (higher is better)');
    expect(svg).toContain('peak PSS, MiB (lower is better)');
    expect(svg).toContain('>c = 1<');
    expect(svg).toContain('>c = 2<');
  });

  it('scales bars to their values: the tallest jobs/s bar is the highest value', () => {
    const heights = [...svg.matchAll(/<rect [^>]*height="([\d.]+)"[^>]*><title>([^<]*)<\/title>/g)].map((m) => ({ h: Number(m[1]), t: m[2]! }));
    const jobs = heights.slice(0, rows.length);
    const tallest = jobs.reduce((a, b) => (b.h > a.h ? b : a));
    expect(tallest.t).toMatch(/c=2: 14\.5$/);
    expect(Math.min(...heights.map((x) => x.h))).toBeGreaterThan(0);
  });

  it('escapes text and is well-formed (every tag closed)', () => {
    expect(svg).toContain('churn &lt;shell&gt;');
    expect(svg).toContain('ours &lt;reuse&gt; &amp; &quot;fast&quot;');
    expect(svg).not.toMatch(/<reuse>/);
    const open = (svg.match(/<(?!\/)[a-z]+[^>]*[^/]>|<[a-z]+>/g) ?? []).length;
    const close = (svg.match(/<\/[a-z]+>/g) ?? []).length;
    expect(open).toBe(close);
    expect(escapeXml(`a'b`)).toBe('a&#39;b');
  });

  it('copes with no rows', () => {
    expect(churnChartSvg([], 'empty')).toMatch(/^<svg [^]*<\/svg>\n$/);
  });
});
