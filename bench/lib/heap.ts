/**
 * offload's main-thread V8 heap, read where offload itself publishes it: the
 * prom-client default metrics on its /metrics endpoint (the harness starts
 * it with `--metrics-port`, see servers.ts). Every figure comes from one
 * scrape, so the heap and the number of tasks admitted are from the same
 * moment. The peers publish no metrics; their heap is not measured.
 *
 * What a stream keeps: after a full collection (through offload's inspector,
 * inspector-gc.ts), the `old`, `large_object`, `new` and `new_large_object`
 * spaces (after a full collection the young generation holds only live
 * objects), minus the same after a full collection before the streams, ÷
 * the tasks open. Code and bytecode spaces are left out: they grow as V8
 * compiles and optimises, whatever the number of streams. Tasks open:
 * `offload_queue_depth` (summed over tenants and priorities) plus
 * `offload_tasks_running`; in the streams scenario each is one open RunStream.
 *
 * Until 2026-12-07 the figure was read with no collection (the old
 * generation's growth, the largest over the scrapes while 90% of the streams
 * were open). That counted garbage promoted since the last full collection,
 * including the state of streams that had already ended, and missed state
 * still in the young generation; readings of one build spread by 2 KB.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface HeapSample {
  /** old + large_object spaces, bytes */
  oldBytes: number;
  /** old, large_object, new and new_large_object spaces: what a full collection leaves is state */
  objectBytes: number;
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
    objectBytes: space('old') + space('large_object') + space('new') + space('new_large_object'),
    youngBytes: space('new') + space('new_large_object'),
    openTasks: sum(gauge(text, 'offload_queue_depth')) + sum(gauge(text, 'offload_tasks_running')),
  };
}

export interface HeapWatch {
  start: HeapSample;
  /** (object spaces after a full collection − the same before) ÷ open tasks; NaN if no scrape saw the share open */
  keptBytesPerOpen: number;
  /** tasks open at that collection */
  keptOpen: number;
  samples: number;
  /** scrapes or collections that failed */
  errors: number;
  firstError?: string;
}

/**
 * Scrapes the heap every `everyMs` until one finds at least `fullShare` of
 * the `expected` tasks open, then collects garbage and reads what is kept
 * (once: each scrape costs offload's main thread about 2 ms and a collection
 * tens of ms, which the scenario's other figures should not pay again).
 * `start` is read after the endpoint's first scrape, so its own allocations
 * are not counted as the scenario's, and after a full collection.
 */
export async function watchHeap(url: string, expected: number, collect: () => Promise<void>, everyMs = 100, fullShare = 0.9): Promise<{ stop(): Promise<HeapWatch> }> {
  await scrapeHeap(url);
  await collect();
  const start = await scrapeHeap(url);
  const watch: HeapWatch = { start, keptBytesPerOpen: Number.NaN, keptOpen: 0, samples: 0, errors: 0 };
  let running = true;
  const take = async (sample: HeapSample): Promise<void> => {
    watch.samples++;
    if (sample.openTasks === 0 || sample.openTasks < fullShare * expected) return;
    running = false;
    await collect();
    const kept = await scrapeHeap(url);
    watch.keptOpen = kept.openTasks;
    if (kept.openTasks > 0) watch.keptBytesPerOpen = (kept.objectBytes - start.objectBytes) / kept.openTasks;
  };
  const loop = (async () => {
    while (running) {
      try {
        await take(await scrapeHeap(url));
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
