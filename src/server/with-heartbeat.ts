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
