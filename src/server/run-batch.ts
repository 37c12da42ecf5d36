/**
 * RunBatch: items are read only while fewer than `window` of this call's
 * items are in flight, so a fast client is held back by HTTP/2 flow control
 * rather than buffered. Items run concurrently; their events are merged into
 * one stream, each tagged with its id. A failing item becomes a TaskFailure
 * event and the stream goes on.
 */
import { OffloadError } from '../errors.js';
import type { RunBatchRequest, RunBatchResponse } from '../gen/offload/v1/compute.js';
import type { TaskEvent } from '../pool/follower.js';
import { HandoffQueue } from './handoff-queue.js';
import { toEventFields } from './to-wire.js';

export interface RunBatchOptions {
  /** Items in flight at most, decided again before each read from the item read last; a number for a fixed window. */
  window: number | ((previous: RunBatchRequest | undefined) => number);
  /**
   * Validates and admits one item and follows it; throws (or rejects with)
   * OffloadError when it cannot run. Its events; a result says `cached` when
   * it was not computed for this item.
   */
  start: (item: RunBatchRequest) => AsyncIterable<TaskEvent & { cached?: boolean }> | Promise<AsyncIterable<TaskEvent & { cached?: boolean }>>;
  /** Told about item failures that are the server's fault (INTERNAL), for the log. */
  onServerFault: (id: string, error: OffloadError) => void;
}

export async function* runBatch(requests: AsyncIterable<RunBatchRequest>, options: RunBatchOptions): AsyncGenerator<RunBatchResponse> {
  const { start, onServerFault } = options;
  const window = typeof options.window === 'number' ? () => options.window as number : options.window;
  const out = new HandoffQueue<RunBatchResponse>();
  let inFlight = 0;
  let freed: (() => void) | undefined;

  const runItem = async (item: RunBatchRequest): Promise<void> => {
    try {
      for await (const event of await start(item)) await out.push({ id: item.id, ...toEventFields(event, event.cached) });
    } catch (thrown) {
      const error = OffloadError.from(thrown);
      if (error.isServerFault) onServerFault(item.id, error);
      await out.push({ id: item.id, failure: { code: error.code, message: error.wireMessage } });
    } finally {
      inFlight--;
      freed?.();
    }
  };

  const feed = async (): Promise<void> => {
    const running = new Set<Promise<void>>();
    const items = requests[Symbol.asyncIterator]();
    let previous: RunBatchRequest | undefined;
    try {
      while (true) {
        // Wait for room before asking for the next item, not after receiving it.
        while (inFlight >= window(previous)) await new Promise<void>((resolve) => (freed = resolve));
        const next = await items.next();
        if (next.done) break;
        previous = next.value;
        inFlight++;
        const job = runItem(next.value);
        running.add(job);
        // Not awaited: items run side by side. runItem turns every failure into a TaskFailure event, so job does not reject.
        void job.then(() => running.delete(job));
      }
      await Promise.all(running);
      out.end();
    } catch (error) {
      out.fail(error);
    }
  };

  // Not awaited: feed runs while the caller reads; it hands any error to out, which throws it to the caller.
  void feed();
  yield* out;
}
