/**
 * Yields what `source` yields; when it stays silent for `intervalMs`, yields
 * `heartbeat()` instead (unless that returns undefined), so a proxy's idle
 * read timeout never cuts a healthy long task.
 */
export async function* withHeartbeat<T>(source: AsyncIterable<T>, intervalMs: number, heartbeat: () => T | undefined): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  // One timer at a time, restarted after every message; a replaced promise that never settles is simply dropped.
  const silence = (): Promise<'silent'> => new Promise((resolve) => (timer = setTimeout(resolve, intervalMs, 'silent')));
  let pending = iterator.next();
  let quiet = silence();
  try {
    while (true) {
      const next = await Promise.race([pending, quiet]);
      clearTimeout(timer);
      quiet = silence();
      if (next === 'silent') {
        const beat = heartbeat();
        if (beat !== undefined) yield beat;
        continue;
      }
      if (next.done) return;
      pending = iterator.next();
      yield next.value;
    }
  } finally {
    clearTimeout(timer);
    // Not awaited: a source blocked in next() would hold the caller until its
    // next event. The caller's signal ends the source; its outcome is moot.
    pending.catch(() => {});
    void iterator.return?.()?.catch(() => {});
  }
}
