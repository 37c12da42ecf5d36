import type { EventReader, FollowerRead } from '../pool/follower.js';

/**
 * Yields what `source` yields; when it stays silent for `intervalMs`, yields
 * `heartbeat()` instead (unless that returns undefined), so a proxy's idle
 * read timeout never cuts a healthy long task.
 *
 * One timer per stream, re-armed with refresh() after every message: a stream
 * relaying thousands of progress events allocates no timer or race per event.
 */
export function withHeartbeat<T>(source: AsyncIterable<T>, intervalMs: number, heartbeat: () => T | undefined): AsyncGenerator<T> {
  return readWithHeartbeat((onReadable) => iteratorReader(source[Symbol.asyncIterator](), onReadable), intervalMs, heartbeat);
}

/** An async iterator read one step ahead, as a reader that calls back. */
function iteratorReader<T>(iterator: AsyncIterator<T>, onReadable: () => void): EventReader<T> {
  let step: FollowerRead<T> | undefined;
  const pull = (): void => {
    iterator.next().then(
      (result) => {
        step = result.done ? { end: true } : { event: result.value };
        onReadable();
      },
      (error: unknown) => {
        step = { error };
        onReadable();
      },
    );
  };
  pull();
  return {
    read: () => {
      const taken = step;
      step = undefined;
      if (taken && 'event' in taken) pull();
      return taken;
    },
    // Not awaited: a source blocked in next() would hold the caller until its
    // next event. The caller's signal ends the source; its outcome is moot.
    close: () => void iterator.return?.()?.catch(() => {}),
  };
}

/**
 * withHeartbeat for a reader that calls back (a lease's or a follower's
 * `watch`), read by one generator. Ends at the reader's end; throws its
 * failure; closes the reader when it ends or the caller stops.
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
