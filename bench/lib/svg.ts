/**
 * A small-multiples bar chart of the key figures, written as plain SVG: one
 * panel per figure, one bar per server (the median), a whisker for the spread
 * over runs, and a dashed line where issue 6 puts a target.
 */
import type { Summary } from './report.js';
import type { ServerName } from './servers.js';

export interface Panel {
  id: string;
  title: string;
  unit: string;
  digits: number;
  /** Where the target line goes, and whether higher or lower is better. */
  target?: { value: number; label: string };
  lowerIsBetter?: boolean;
}

export const PANELS: Panel[] = [
  { id: 'overhead.rps', title: 'overhead: echo calls per second', unit: '', digits: 0 },
  { id: 'overhead.cpuUsPerCall', title: 'overhead: server CPU/call', unit: 'µs', digits: 0, lowerIsBetter: true },
  { id: 'batch.itemsPerSec', title: 'batch: echo items per second', unit: '', digits: 0 },
  { id: 'compute.efficiency', title: 'compute: efficiency', unit: '', digits: 3, target: { value: 0.97, label: '≥ 0.97' } },
  { id: 'loopfree.p99Ms', title: 'loopfree: ListTasks p99', unit: 'ms', digits: 1, target: { value: 2, label: '≤ 2 ms' }, lowerIsBetter: true },
  { id: 'loopfree.efficiency', title: 'loopfree: efficiency', unit: '', digits: 3, target: { value: 0.95, label: '≥ 0.95' } },
  { id: 'stream.ttfpMinMs', title: 'stream: 1st progress, 1st stream', unit: 'ms', digits: 0, lowerIsBetter: true },
  { id: 'payload.mbPerSec', title: 'payload: sha256 of 8 MiB', unit: 'MB/s', digits: 0 },
  { id: 'streams.wallOverIdeal', title: 'streams: wall ÷ ideal', unit: '×', digits: 2, target: { value: 1.15, label: '≤ 1.15' }, lowerIsBetter: true },
  { id: 'streams.rssGrowthMB', title: 'streams: RSS growth', unit: 'MB', digits: 1, target: { value: 20, label: '≤ 20 MB' }, lowerIsBetter: true },
];

export const COLORS: Record<ServerName, string> = {
  offload: '#2563eb',
  inline: '#ea580c',
  plain: '#9333ea',
  'python-seed': '#16a34a',
  ceiling: '#6b7280',
};

const esc = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A top for the axis that splits into 4 round steps (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × 10^k each). */
function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const raw = value / 4;
  const exp = 10 ** Math.floor(Math.log10(raw));
  for (const step of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (step * exp >= raw) return 4 * step * exp;
  return 40 * exp;
}

export function renderChart(summary: Summary, servers: readonly ServerName[], caption: string): string {
  const cols = 3;
  const pw = 300;
  const ph = 190;
  const top = 56;
  const rows = Math.ceil(PANELS.length / cols);
  const width = cols * pw + 20;
  const height = top + rows * ph + 20;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="11">`);
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  out.push(`<text x="10" y="18" font-size="14" font-weight="600">${esc(caption)}</text>`);
  servers.forEach((s, i) => {
    const x = 10 + i * 120;
    out.push(`<rect x="${x}" y="30" width="12" height="12" fill="${COLORS[s]}"/><text x="${x + 17}" y="40">${esc(s)}</text>`);
  });
  out.push(`<text x="${10 + servers.length * 120}" y="40" fill="#555">bar: median · whisker: min–max over runs · dashed: target</text>`);

  PANELS.forEach((panel, index) => {
    const ox = 10 + (index % cols) * pw;
    const oy = top + Math.floor(index / cols) * ph;
    const plotX = ox + 44;
    const plotY = oy + 26;
    const plotW = pw - 60;
    const plotH = ph - 62;
    const spreads = servers.map((s) => summary[panel.id]?.[s]);
    const highest = Math.max(0, ...spreads.map((sp) => (sp && Number.isFinite(sp.max) ? sp.max : 0)), panel.target?.value ?? 0);
    const yMax = niceMax(highest * 1.08);
    const y = (v: number): number => plotY + plotH - (Math.max(0, v) / yMax) * plotH;
    out.push(`<g>`);
    const target = panel.target ? `<tspan fill="#dc2626" font-weight="400">&#160;&#160;target ${esc(panel.target.label)}</tspan>` : '';
    out.push(`<text x="${ox + 4}" y="${oy + 14}" font-weight="600">${esc(panel.title)}${panel.unit ? ` (${esc(panel.unit)})` : ''}${panel.lowerIsBetter ? ' ↓' : ' ↑'}${target}</text>`);
    for (let t = 0; t <= 4; t++) {
      const v = (yMax * t) / 4;
      out.push(`<line x1="${plotX}" x2="${plotX + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e5e7eb"/>`);
      out.push(`<text x="${plotX - 4}" y="${(y(v) + 3).toFixed(1)}" text-anchor="end" fill="#6b7280">${esc(formatTick(v))}</text>`);
    }
    const slot = plotW / servers.length;
    // Five servers' names ("python-seed" the longest) fit their slots only a little smaller.
    const labelSize = servers.length > 4 ? 8 : 9.5;
    const barW = Math.min(44, slot * 0.62);
    servers.forEach((s, i) => {
      const sp = spreads[i];
      const cx = plotX + slot * i + slot / 2;
      if (!sp || !Number.isFinite(sp.median)) {
        out.push(`<text x="${cx.toFixed(1)}" y="${plotY + plotH - 4}" text-anchor="middle" fill="#9ca3af">n/a</text>`);
        return;
      }
      const top = y(sp.median);
      out.push(`<rect x="${(cx - barW / 2).toFixed(1)}" y="${top.toFixed(1)}" width="${barW.toFixed(1)}" height="${Math.max(0.5, plotY + plotH - top).toFixed(1)}" fill="${COLORS[s]}"><title>${esc(`${s}: ${sp.median.toFixed(panel.digits)} ${panel.unit} (runs: ${sp.values.map((v) => v.toFixed(panel.digits)).join(', ')})`)}</title></rect>`);
      if (sp.values.length > 1 && sp.max > sp.min) {
        out.push(`<line x1="${cx.toFixed(1)}" x2="${cx.toFixed(1)}" y1="${y(sp.min).toFixed(1)}" y2="${y(sp.max).toFixed(1)}" stroke="#111827" stroke-width="1.2"/>`);
        for (const v of [sp.min, sp.max]) out.push(`<line x1="${(cx - 5).toFixed(1)}" x2="${(cx + 5).toFixed(1)}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#111827" stroke-width="1.2"/>`);
      }
      out.push(`<text x="${cx.toFixed(1)}" y="${(Math.min(top, y(sp.max)) - 4).toFixed(1)}" text-anchor="middle" font-size="10">${esc(formatValue(sp.median, panel.digits))}</text>`);
      out.push(`<text x="${cx.toFixed(1)}" y="${plotY + plotH + 13}" text-anchor="middle" fill="#374151" font-size="${labelSize}">${esc(s)}</text>`);
    });
    if (panel.target) {
      const ty = y(panel.target.value).toFixed(1);
      out.push(`<line x1="${plotX}" x2="${plotX + plotW}" y1="${ty}" y2="${ty}" stroke="#dc2626" stroke-dasharray="5 3"/>`);
    }
    out.push(`<line x1="${plotX}" x2="${plotX + plotW}" y1="${plotY + plotH}" y2="${plotY + plotH}" stroke="#9ca3af"/>`);
    out.push(`</g>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function formatTick(v: number): string {
  if (v === 0) return '0';
  if (v >= 1000) return `${(v / 1000).toFixed(v % 1000 === 0 ? 0 : 1)}k`;
  return Number(v.toPrecision(3)).toString();
}

function formatValue(v: number, digits: number): string {
  if (Math.abs(v) >= 10000) return `${(v / 1000).toFixed(1)}k`;
  return v.toFixed(digits);
}
