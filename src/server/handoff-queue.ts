/**
 * Many producers, one consumer: `push` resolves once the consumer has taken
 * the value, so each producer has at most one value waiting and memory stays
 * bounded by the number of producers. After `close`, pushes are dropped.
 */
export class HandoffQueue<T> implements AsyncIterable<T> {
  readonly #waiting: { value: T; taken: () => void }[] = [];
  #wake: (() => void) | undefined;
  #ended = false;
  #closed = false;
  // Boxed: whatever the producer failed with is thrown as is, even a thrown
  // undefined, which must not read as "no failure" and end the stream cleanly.
  #failure: { error: unknown } | undefined;

  push(value: T): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((taken) => {
      this.#waiting.push({ value, taken });
      this.#notify();
    });
  }

  /** No more values will come; the consumer ends after the waiting ones. */
  end(): void {
    this.#ended = true;
    this.#notify();
  }

  /** Fails the consumer after the waiting values. */
  fail(error: unknown): void {
    this.#failure ??= { error };
    this.end();
  }

  /** The consumer is gone: release every producer now and drop what comes. */
  close(): void {
    this.#closed = true;
    for (const { taken } of this.#waiting.splice(0)) taken();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    try {
      while (true) {
        const next = this.#waiting.shift();
        if (next) {
          next.taken();
          yield next.value;
        } else if (this.#ended) {
          if (this.#failure) throw this.#failure.error;
          return;
        } else {
          await new Promise<void>((resolve) => (this.#wake = resolve));
        }
      }
    } finally {
      this.close();
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
