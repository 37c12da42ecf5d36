/** A clock that moves only when a test says so: timers fire in order as it advances. */
import type { Clock, Timer } from '../../src/pool/clock.js';

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  #now = 1_800_000_000_000;
  #seq = 0;
  readonly #timers = new Map<number, Pending>();

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const seq = ++this.#seq;
    this.#timers.set(seq, { at: this.#now + ms, seq, fn });
    return seq as unknown as Timer;
  }

  clearTimeout(timer: Timer | undefined): void {
    if (timer !== undefined) this.#timers.delete(timer as unknown as number);
  }

  /** Moves time on by `ms`, firing every timer that falls due, earliest first (timers they set included). */
  advance(ms: number): void {
    const until = this.#now + ms;
    for (;;) {
      const next = [...this.#timers.values()].filter((t) => t.at <= until).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) break;
      this.#timers.delete(next.seq);
      this.#now = next.at;
      next.fn();
    }
    this.#now = until;
  }
}
