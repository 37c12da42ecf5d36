/**
 * Throughput and latency over the last minutes, for the dashboard's charts:
 * settled runs counted in STEP_S windows, each with a log-scale histogram of
 * queue waits and one of run times, from which percentiles are read. A
 * histogram's bins are a quarter of an octave wide, so a percentile reads at
 * most 19% high (the bin's upper edge); the memory is fixed whatever the load.
 */
export const STEP_S = 5;
/** Windows kept: five minutes. */
export const WINDOWS = 60;

const BINS_PER_OCTAVE = 4;
/** The lowest bin's upper edge: waits and runs under 0.1 ms count there. */
const MIN_MS = 0.1;
/** 0.1 ms to 0.1 ms × 2^27 ≈ 3.7 h. */
const BINS = 27 * BINS_PER_OCTAVE;

export interface SeriesPoint {
  /** The window's start, in ms since the epoch. */
  at: number;
  /** Runs settled per second over the window. */
  perSecond: number;
  /** Percentiles in ms; null when no run of the window waited or ran. */
  wait: Percentiles | null;
  run: Percentiles | null;
}

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

interface Window {
  index: number;
  settled: number;
  wait: Uint32Array | undefined;
  run: Uint32Array | undefined;
}

export class RunSeries {
  readonly #windows: Window[] = [];

  /** A run settled at `at`: it waited `waitMs` (undefined: never left the queue) and ran `runMs`. */
  record(at: number, waitMs: number | undefined, runMs: number | undefined): void {
    const window = this.#window(Math.floor(at / (STEP_S * 1000)));
    window.settled++;
    if (waitMs !== undefined) (window.wait ??= new Uint32Array(BINS))[bin(waitMs)]!++;
    if (runMs !== undefined) (window.run ??= new Uint32Array(BINS))[bin(runMs)]!++;
  }

  /** The last WINDOWS windows up to `now`, oldest first, empty ones included; the current one is partial. */
  points(now: number): SeriesPoint[] {
    const last = Math.floor(now / (STEP_S * 1000));
    const byIndex = new Map(this.#windows.map((window) => [window.index, window]));
    const points: SeriesPoint[] = [];
    for (let index = last - WINDOWS + 1; index <= last; index++) {
      const window = byIndex.get(index);
      const seconds = index === last ? Math.max(1, (now - index * STEP_S * 1000) / 1000) : STEP_S;
      points.push({
        at: index * STEP_S * 1000,
        perSecond: (window?.settled ?? 0) / seconds,
        wait: percentiles(window?.wait),
        run: percentiles(window?.run),
      });
    }
    return points;
  }

  #window(index: number): Window {
    const newest = this.#windows.at(-1);
    if (newest && newest.index === index) return newest;
    // A run settling late (clock steps) lands in the newest window rather than reopening an old one.
    if (newest && newest.index > index) return newest;
    const window: Window = { index, settled: 0, wait: undefined, run: undefined };
    this.#windows.push(window);
    while (this.#windows.length > 0 && this.#windows[0]!.index <= index - WINDOWS) this.#windows.shift();
    return window;
  }
}

function bin(ms: number): number {
  if (!(ms > MIN_MS)) return 0;
  return Math.min(BINS - 1, Math.ceil(Math.log2(ms / MIN_MS) * BINS_PER_OCTAVE));
}

const upperEdge = (index: number): number => MIN_MS * 2 ** (index / BINS_PER_OCTAVE);

function percentiles(counts: Uint32Array | undefined): Percentiles | null {
  if (!counts) return null;
  let total = 0;
  for (const count of counts) total += count;
  if (total === 0) return null;
  const at = (q: number): number => {
    const rank = Math.ceil(q * total);
    let seen = 0;
    for (let index = 0; index < counts.length; index++) {
      seen += counts[index]!;
      if (seen >= rank) return round(upperEdge(index));
    }
    return round(upperEdge(counts.length - 1));
  };
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

const round = (ms: number): number => (ms < 10 ? Math.round(ms * 100) / 100 : Math.round(ms));
