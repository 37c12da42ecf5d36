import type { EventReader } from '../pool/follower.js';

/**
 * Yields what `source` yields; when it stays silent for `intervalMs`, yields
 * `heartbeat()` instead (unless that returns undefined), so a proxy's idle
 * read timeout never cuts a healthy long task.
 *
 * One timer per stream, re-armed with refresh() after every message: a stream
 * relaying thousands of progress events allocates no timer or race per event.
 */
export async function* withHeartbeat<T>(source: AsyncIterable<T>, intervalMs: number, heartbeat: () => T | undefined): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let wake: (() => void) | undefined;
  let silent = false;
  const timer = setTimeout(() => {
    silent = true;
    wake?.();
  }, intervalMs);
  let next: IteratorResult<T> | undefined;
  let failure: { error: unknown } | undefined;
  let pending = true;
  const pull = (): void => {
    pending = true;
    iterator.next().then(
      (result) => {
        next = result;
        pending = false;
        wake?.();
      },
      (error: unknown) => {
        failure = { error };
        pending = false;
        wake?.();
      },
    );
  };
  pull();
  try {
    while (true) {
      if (pending && !silent) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      if (failure) throw failure.error;
      if (!pending) {
        const result = next!;
        next = undefined;
        if (result.done) return;
        pull();
        silent = false;
        timer.refresh();
        yield result.value;
        continue;
      }
      // The timer fired while the source was still silent.
      silent = false;
      timer.refresh();
      const beat = heartbeat();
      if (beat !== undefined) yield beat;
    }
  } finally {
    clearTimeout(timer);
    // Not awaited: a source blocked in next() would hold the caller until its
    // next event. The caller's signal ends the source; its outcome is moot.
    void iterator.return?.()?.catch(() => {});
  }
}

/**
 * withHeartbeat for a reader that calls back (a lease's or a follower's
 * `watch`): one generator for the whole stream, where following a lease
 * through its own generators took three, each costing every event a few
 * promise turns and each open stream its suspended frames. Ends at the
 * reader's end; throws its failure; closes the reader when the caller stops.
 */
export async function* readWithHeartbeat<T>(watch: (onReadable: () => void) => EventReader<T>, intervalMs: number, heartbeat: () => T | undefined): AsyncGenerator<T> {
  let wake: (() => void) | undefined;
  let silent = false;
  const notify = (): void => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const reader = watch(notify);
  const timer = setTimeout(() => {
    silent = true;
    notify();
  }, intervalMs);
  try {
    while (true) {
      const step = reader.read();
      if (step !== undefined) {
        if ('error' in step) throw step.error;
        if ('end' in step) return;
        silent = false;
        timer.refresh();
        yield step.event;
        continue;
      }
      if (!silent) await new Promise<void>((resolve) => (wake = resolve));
      if (!silent) continue;
      // The timer fired while the reader was still silent.
      silent = false;
      timer.refresh();
      const beat = heartbeat();
      if (beat !== undefined) yield beat;
    }
  } finally {
    clearTimeout(timer);
    reader.close();
  }
}
