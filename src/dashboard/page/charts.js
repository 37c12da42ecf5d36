// Small line charts as inline SVG, drawn from the snapshot's series (one
// point per 5 s window). Each says its latest value and peak in words too,
// so a screen reader, or someone who cannot tell the lines apart, reads the
// same as the picture shows.
import { duration, el } from './render.js';

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 300;
const HEIGHT = 80;

function svg(tag, attributes, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  node.append(...children);
  return node;
}

function line(values, max, className) {
  const step = WIDTH / Math.max(1, values.length - 1);
  const points = [];
  values.forEach((value, index) => {
    if (value === null || value === undefined) return;
    points.push(`${(index * step).toFixed(1)},${(HEIGHT - (value / max) * (HEIGHT - 4)).toFixed(1)}`);
  });
  return svg('polyline', { points: points.join(' '), class: className });
}

function chart(title, series, format, span) {
  const all = series.flatMap((s) => s.values).filter((v) => v !== null && v !== undefined);
  const max = Math.max(...all, 0) || 1;
  // The newest window with a value: a window in which no run ended has no percentiles.
  const latest = series.map((s) => `${s.name} ${format(s.values.findLast((v) => v !== null && v !== undefined))}`.trim()).join(', ');
  const summary = `${title}: latest ${latest}; peak ${format(Math.max(...all, 0))}.`;
  return el('figure', {},
    svg('svg', { class: 'chart', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': summary, preserveAspectRatio: 'none' },
      svg('title', {}, summary),
      svg('line', { x1: 0, y1: HEIGHT - 0.5, x2: WIDTH, y2: HEIGHT - 0.5, stroke: 'currentColor', 'stroke-opacity': 0.3 }),
      ...series.map((s) => line(s.values, max, s.className))),
    el('div', { class: 'axis', 'aria-hidden': 'true' }, el('span', {}, `${duration(span)} ago`), el('span', {}, 'now')),
    el('figcaption', {}, el('b', {}, title), el('br'), `latest ${latest}`, el('br'), `peak ${format(Math.max(...all, 0))} · ${series.length > 1 ? 'solid p50, dashed p95' : 'runs ended per second'}`));
}

const rate = (v) => (v === null || v === undefined ? '–' : `${v < 10 ? v.toFixed(1) : Math.round(v)}/s`);
const time = (v) => (v === null || v === undefined ? '–' : duration(v));

/** The series since the server started, at most the five minutes the snapshot holds. */
export function charts(snapshot) {
  const first = snapshot.server.startedAt - 5000;
  const points = snapshot.charts.filter((p) => p.at >= first);
  const span = snapshot.at - (points[0]?.at ?? snapshot.at);
  return [
    chart('Tasks per second', [{ name: '', values: points.map((p) => p.perSecond), className: 'p50' }], rate, span),
    chart('Queue wait', [
      { name: 'p50', values: points.map((p) => p.wait?.p50 ?? null), className: 'p50' },
      { name: 'p95', values: points.map((p) => p.wait?.p95 ?? null), className: 'p95' },
    ], time, span),
    chart('Run time', [
      { name: 'p50', values: points.map((p) => p.run?.p50 ?? null), className: 'p50' },
      { name: 'p95', values: points.map((p) => p.run?.p95 ?? null), className: 'p95' },
    ], time, span),
  ];
}
