import { Errors } from '../errors.js';

/**
 * Suspends a task whose runs keep killing their worker. Each crash costs a
 * worker restart (a new thread, module imports) and the calls queued behind
 * it, so after `limit` crashes in a row the task is refused at once with
 * FAILED_PRECONDITION for `cooldownMs`. Then one run is let through: success
 * closes the breaker, another crash opens it again. 0 disables the breaker.
 */
export class CrashBreaker {
  readonly #limit: number;
  readonly #cooldownMs: number;
  readonly #tasks = new Map<string, { crashes: number; openUntil: number }>();

  constructor(limit: number, cooldownMs: number) {
    this.#limit = limit;
    this.#cooldownMs = cooldownMs;
  }

  /** Throws FAILED_PRECONDITION while the task is suspended. */
  check(task: string, now = Date.now()): void {
    const state = this.#tasks.get(task);
    if (!state || state.openUntil <= now) return;
    const seconds = Math.ceil((state.openUntil - now) / 1000);
    throw Errors.taskSuspended(task, seconds, state.crashes);
  }

  /** A run of the task ended; `crashed` when its worker died under it. */
  record(task: string, crashed: boolean, now = Date.now()): void {
    if (!crashed) {
      this.#tasks.delete(task);
      return;
    }
    const state = this.#tasks.get(task) ?? { crashes: 0, openUntil: 0 };
    state.crashes++;
    if (this.#limit > 0 && state.crashes >= this.#limit) state.openUntil = now + this.#cooldownMs;
    this.#tasks.set(task, state);
  }

  /** The tasks refused now, and until when. */
  suspended(now = Date.now()): { task: string; crashes: number; until: number }[] {
    return [...this.#tasks].filter(([, state]) => state.openUntil > now).map(([task, state]) => ({ task, crashes: state.crashes, until: state.openUntil }));
  }

  /** Whether the task's last run killed its worker (with the breaker off too). */
  crashedLast(task: string): boolean {
    return this.#tasks.has(task);
  }
}
