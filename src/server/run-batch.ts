/**
 * RunBatch: items are read only while fewer than `window` of this call's
 * items are in flight, so a fast client is held back by HTTP/2 flow control
 * rather than buffered. Items run concurrently; their events are merged into
 * one stream, each tagged with its id. A failing item becomes a TaskFailure
 * event and the stream goes on.
 *
 * Items are not awaited one by one: each item's reader calls back when it has
 * something unread, and the stream takes from the items in the order they
 * became readable, one event at a time. An item keeps at most its Started,
 * its latest Progress and its end unread (follower.ts), so a slow client
 * costs memory bounded by the window, and no item waits behind another's
 * progress.
 */
import { OffloadError } from '../errors.js';
import type { RunBatchRequest, RunBatchResponse } from '../gen/offload/v1/compute.js';
import type { EventReader, TaskEvent } from '../pool/follower.js';
import { toEventFields } from './to-wire.js';

type ItemEvent = TaskEvent & { cached?: boolean };

/** An admitted item's events (a Lease; a Follower in tests). */
export interface ItemSource {
  watch(onReadable: () => void): EventReader<ItemEvent>;
}

export interface RunBatchOptions {
  /** Items in flight at most, decided again before each read from the item read last; a number for a fixed window. */
  window: number | ((previous: RunBatchRequest | undefined) => number);
  /**
   * Validates and admits one item; throws (or rejects with) OffloadError
   * when it cannot run. A result says `cached` when it was not computed for
   * this item.
   */
  start: (item: RunBatchRequest) => ItemSource | Promise<ItemSource>;
  /** Told about item failures that are the server's fault (INTERNAL), for the log. */
  onServerFault: (id: string, error: OffloadError) => void;
}

interface Item {
  readonly id: string;
  reader?: EventReader<ItemEvent>;
  /** Boxed: whatever admission failed with, even a thrown undefined. */
  refused?: { error: unknown };
  /** In the readable queue already. */
  queued: boolean;
  done: boolean;
}

export async function* runBatch(requests: AsyncIterable<RunBatchRequest>, options: RunBatchOptions): AsyncGenerator<RunBatchResponse> {
  const { start, onServerFault } = options;
  const window = typeof options.window === 'number' ? () => options.window as number : options.window;
  const open = new Set<Item>();
  const readable: Item[] = [];
  let wake: (() => void) | undefined;
  let freed: (() => void) | undefined;
  let fed = false;
  let closed = false;
  let feedFailure: { error: unknown } | undefined;

  const notify = (): void => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const markReadable = (item: Item): void => {
    if (item.queued || item.done) return;
    item.queued = true;
    readable.push(item);
    notify();
  };
  const finish = (item: Item): void => {
    item.done = true;
    open.delete(item);
    freed?.();
    if (fed && open.size === 0) notify();
  };
  const failure = (item: Item, thrown: unknown): RunBatchResponse => {
    const error = OffloadError.from(thrown);
    if (error.isServerFault) onServerFault(item.id, error);
    return { id: item.id, failure: { code: error.code, message: error.wireMessage } };
  };

  const admit = (request: RunBatchRequest): void => {
    const item: Item = { id: request.id, queued: false, done: false };
    open.add(item);
    const watch = (source: ItemSource): void => {
      item.reader = source.watch(() => markReadable(item));
      // The call ended while the item was being admitted: nobody will read it.
      if (closed) item.reader.close();
    };
    const refuse = (error: unknown): void => {
      item.refused = { error };
      markReadable(item);
    };
    try {
      const admitted = start(request);
      if (admitted instanceof Promise) admitted.then(watch, refuse);
      else watch(admitted);
    } catch (error) {
      refuse(error);
    }
  };

  /** The item's next event as a response; undefined when it has nothing unread (or ended without a word). */
  const next = (item: Item): RunBatchResponse | undefined => {
    if (item.refused) {
      finish(item);
      return failure(item, item.refused.error);
    }
    const step = item.reader!.read();
    if (step === undefined) return undefined;
    if ('event' in step) {
      if (step.event.type === 'result') finish(item);
      // Perhaps more is unread: back of the queue, so every item gets its turn.
      else markReadable(item);
      return { id: item.id, ...toEventFields(step.event, step.event.cached) };
    }
    finish(item);
    return 'error' in step ? failure(item, step.error) : undefined;
  };

  const feed = async (): Promise<void> => {
    const items = requests[Symbol.asyncIterator]();
    let previous: RunBatchRequest | undefined;
    try {
      while (!closed) {
        // Wait for room before asking for the next item, not after receiving it.
        while (open.size >= window(previous)) await new Promise<void>((resolve) => (freed = resolve));
        const next = await items.next();
        if (next.done) break;
        previous = next.value;
        admit(next.value);
      }
    } catch (error) {
      feedFailure = { error };
    }
    fed = true;
    notify();
  };

  // Not awaited: feed reads items while the stream is written; its failure is thrown below.
  void feed();
  try {
    while (true) {
      const item = readable.shift();
      if (item) {
        item.queued = false;
        if (item.done) continue;
        const response = next(item);
        if (response) yield response;
        continue;
      }
      // A request stream that failed fails the call, without waiting for the items in flight.
      if (feedFailure) throw feedFailure.error;
      if (fed && open.size === 0) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    closed = true;
    for (const item of open) item.reader?.close();
  }
}
