/**
 * offload's main-thread V8 heap, read where offload itself publishes it: the
 * prom-client default metrics on its /metrics endpoint (the harness starts
 * it with `--metrics-port`, see servers.ts). Every figure comes from one
 * scrape, so the heap and the number of tasks admitted are from the same
 * moment. The peers publish no metrics; their heap is not measured.
 *
 * What is read:
 * - the old generation: `nodejs_heap_space_size_used_bytes` of the `old` and
 *   `large_object` spaces. The young generation is left out: it is sized by
 *   the allocation rate (1 to 32 MB on Node 20, see bench/notes.md) and holds
 *   mostly garbage between scavenges, whatever the number of streams; state a
 *   stream keeps is promoted to the old generation after two scavenges.
 * - the tasks offload has admitted and not finished: `offload_queue_depth`
 *   (summed over tenants and priorities) plus `offload_tasks_running`. In the
 *   streams scenario each is one open RunStream.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface HeapSample {
  /** old + large_object spaces, bytes */
  oldBytes: number;
  /** the young generation, bytes (for the record) */
  youngBytes: number;
  /** tasks queued or running in offload */
  openTasks: number;
}

const gauge = (text: string, name: string, labels?: string): number[] => {
  const values: number[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (labels === undefined ? !(rest.startsWith(' ') || rest.startsWith('{')) : !rest.startsWith(`{${labels}}`)) continue;
    const value = Number(rest.slice(rest.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) values.push(value);
  }
  return values;
};
const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);

export async function scrapeHeap(url: string, timeoutMs = 2000): Promise<HeapSample> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const text = await response.text();
  const space = (name: string): number => sum(gauge(text, 'nodejs_heap_space_size_used_bytes', `space="${name}"`));
  const old = gauge(text, 'nodejs_heap_space_size_used_bytes', 'space="old"');
  if (old.length === 0) throw new Error(`${url}: no nodejs_heap_space_size_used_bytes{space="old"}`);
  return {
    oldBytes: space('old') + space('large_object'),
    youngBytes: space('new') + space('new_large_object'),
    openTasks: sum(gauge(text, 'offload_queue_depth')) + sum(gauge(text, 'offload_tasks_running')),
  };
}

export interface HeapWatch {
  start: HeapSample;
  /**
   * The largest (old generation − its start) ÷ open tasks over the samples
   * taken while at least `fullShare` of the expected tasks were open; NaN
   * when no sample was.
   */
  peakBytesPerOpen: number;
  /** samples taken while that many were open */
  fullSamples: number;
  samples: number;
  /** scrapes that failed */
  errors: number;
  firstError?: string;
}

/**
 * Samples the heap every `everyMs` until at least `fullShare` of the
 * `expected` tasks have been open and fewer are now, or until stopped: each
 * scrape costs offload's main thread about 2 ms, which the scenario's other
 * figures (RSS, wall time) should not pay for longer than needed. `start`
 * is read twice first and the second reading kept, so the endpoint's own
 * first-scrape allocations are not counted as the scenario's.
 */
export async function watchHeap(url: string, expected: number, everyMs = 100, fullShare = 0.9): Promise<{ stop(): Promise<HeapWatch> }> {
  await scrapeHeap(url);
  const start = await scrapeHeap(url);
  const watch: HeapWatch = { start, peakBytesPerOpen: Number.NaN, fullSamples: 0, samples: 0, errors: 0 };
  let running = true;
  const take = (sample: HeapSample): void => {
    watch.samples++;
    if (sample.openTasks < fullShare * expected || sample.openTasks === 0) {
      if (watch.fullSamples > 0) running = false; // the window has closed
    } else {
      watch.fullSamples++;
      const perOpen = (sample.oldBytes - start.oldBytes) / sample.openTasks;
      watch.peakBytesPerOpen = Number.isNaN(watch.peakBytesPerOpen) ? perOpen : Math.max(watch.peakBytesPerOpen, perOpen);
    }
  };
  const loop = (async () => {
    while (running) {
      try {
        take(await scrapeHeap(url));
      } catch (error) {
        watch.errors++;
        watch.firstError ??= error instanceof Error ? error.message : String(error);
      }
      if (running) await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return watch;
    },
  };
}
