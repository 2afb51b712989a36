import { OUTCOMES, type ExchangeChart } from '../audit-chart.js';
import { h, time, type Html } from './html.js';

const WIDTH = 720;
const HEIGHT = 200;
const LEFT = 40;
const BOTTOM = 24;
const TOP = 8;

/** A tick value at or above `max` from 1, 2, 5 × 10^n, so the axis reads in round numbers. */
function roundUp(max: number): number {
  if (max <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

/**
 * Exchanges over time as stacked bars by outcome: an SVG element drawn on the server (no script), colours by
 * class from the stylesheet, each bar titled with its counts for screen readers and hover.
 */
export function exchangesOverTime(chart: ExchangeChart): Html {
  const max = roundUp(
    Math.max(
      0,
      ...chart.buckets.map((bucket) => OUTCOMES.reduce((sum, outcome) => sum + bucket.counts[outcome], 0)),
    ),
  );
  const plotWidth = WIDTH - LEFT;
  const plotHeight = HEIGHT - BOTTOM - TOP;
  const barWidth = plotWidth / chart.buckets.length;
  const bars = chart.buckets.map((bucket, index) => {
    let y = TOP + plotHeight;
    const x = LEFT + index * barWidth + 1;
    const segments = OUTCOMES.map((outcome) => {
      const count = bucket.counts[outcome];
      if (count === 0) return '';
      const height = (count / max) * plotHeight;
      y -= height;
      return h`<rect class="bar-${outcome}" x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${height.toFixed(1)}"><title>${time(bucket.start)}: ${count} ${outcome}</title></rect>`;
    });
    return h`${segments}`;
  });
  return h`<svg class="chart" role="img" aria-labelledby="chart-time-title" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}">
<title id="chart-time-title">Exchanges from ${time(chart.from)} to ${time(chart.to)} by outcome: ${chart.total} in all</title>
<line class="axis" x1="${LEFT}" y1="${TOP + plotHeight}" x2="${WIDTH}" y2="${TOP + plotHeight}"></line>
<line class="axis" x1="${LEFT}" y1="${TOP}" x2="${LEFT}" y2="${TOP + plotHeight}"></line>
<text class="tick" x="${LEFT - 4}" y="${TOP + 10}" text-anchor="end">${max}</text>
<text class="tick" x="${LEFT - 4}" y="${TOP + plotHeight}" text-anchor="end">0</text>
<text class="tick" x="${LEFT}" y="${HEIGHT - 6}">${time(chart.from)}</text>
<text class="tick" x="${WIDTH}" y="${HEIGHT - 6}" text-anchor="end">${time(chart.to)}</text>
${bars}
</svg>
<p class="legend">${OUTCOMES.map((outcome) => h`<span class="key key-${outcome}"></span> ${outcome} `)}</p>`;
}

/** Denied exchanges by problem code, as horizontal bars. */
export function denialsByCode(chart: ExchangeChart): Html {
  if (chart.denials.length === 0) return h`<p class="muted">No denied exchange in this window.</p>`;
  const rowHeight = 22;
  const labelWidth = 200;
  const height = chart.denials.length * rowHeight + 4;
  const max = Math.max(...chart.denials.map((denial) => denial.count));
  const barSpace = WIDTH - labelWidth - 60;
  return h`<svg class="chart" role="img" aria-labelledby="chart-codes-title" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}">
<title id="chart-codes-title">Denied exchanges by code</title>
${chart.denials.map((denial, index) => {
  const y = index * rowHeight + 2;
  const width = Math.max(1, (denial.count / max) * barSpace);
  return h`<text class="label" x="${labelWidth - 6}" y="${y + 15}" text-anchor="end">${denial.code}</text>
<rect class="bar-denied" x="${labelWidth}" y="${y + 3}" width="${width.toFixed(1)}" height="${rowHeight - 6}"><title>${denial.code}: ${denial.count}</title></rect>
<text class="tick" x="${(labelWidth + width + 6).toFixed(1)}" y="${y + 15}">${denial.count}</text>`;
})}
</svg>`;
}
