import { describe, expect, it } from 'vitest';
import { RunSeries, STEP_S, WINDOWS } from '../../src/dashboard/run-series.js';

const STEP_MS = STEP_S * 1000;
const T0 = 1_000 * STEP_MS;

describe('RunSeries', () => {
  it('gives one point per window for the last five minutes, empty ones included', () => {
    const series = new RunSeries();
    const points = series.points(T0);
    expect(points).toHaveLength(WINDOWS);
    expect(points.at(-1)).toEqual({ at: T0, perSecond: 0, wait: null, run: null });
    expect(points[0]!.at).toBe(T0 - (WINDOWS - 1) * STEP_MS);
  });

  it('counts runs per second over a whole window, and over the elapsed part of the current one', () => {
    const series = new RunSeries();
    for (let i = 0; i < 10; i++) series.record(T0 + i, 1, 1);
    for (let i = 0; i < 4; i++) series.record(T0 + STEP_MS + i, 1, 1);
    const points = series.points(T0 + STEP_MS + 2000);
    expect(points.at(-2)!.perSecond).toBe(10 / STEP_S);
    expect(points.at(-1)!.perSecond).toBe(4 / 2);
  });

  it('reads percentiles at most a quarter octave high, and never low', () => {
    const series = new RunSeries();
    for (let ms = 1; ms <= 100; ms++) series.record(T0, ms, ms * 10);
    const { wait, run } = series.points(T0 + 1)[WINDOWS - 1]!;
    for (const [read, exact] of [[wait!.p50, 50], [wait!.p95, 95], [wait!.p99, 99], [run!.p50, 500], [run!.p95, 950]] as const) {
      expect(read).toBeGreaterThanOrEqual(exact);
      expect(read).toBeLessThanOrEqual(exact * 2 ** 0.25);
    }
  });

  it('leaves a run that never started out of the waits and run times, but counts it', () => {
    const series = new RunSeries();
    series.record(T0, undefined, undefined);
    const point = series.points(T0 + STEP_MS - 1).at(-1)!;
    expect(point).toMatchObject({ wait: null, run: null });
    expect(point.perSecond).toBeCloseTo(1 / STEP_S, 3);
  });

  it('forgets windows older than five minutes', () => {
    const series = new RunSeries();
    series.record(T0, 1, 1);
    const later = T0 + WINDOWS * STEP_MS;
    series.record(later, 1, 1);
    expect(series.points(later).filter((point) => point.perSecond > 0)).toHaveLength(1);
  });
});
