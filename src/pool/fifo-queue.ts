import type { RunQueue } from './run-queue.js';

/**
 * First in, first out: today's policy. An array, as piscina's ArrayTaskQueue:
 * the queue holds at most --max-queue jobs, so shifting is cheap enough.
 */
export class FifoQueue<T> implements RunQueue<T> {
  readonly #jobs: T[] = [];

  get size(): number {
    return this.#jobs.length;
  }

  push(job: T): void {
    this.#jobs.push(job);
  }

  pushFront(job: T): void {
    this.#jobs.unshift(job);
  }

  shift(): T | undefined {
    return this.#jobs.shift();
  }

  remove(job: T): boolean {
    const index = this.#jobs.indexOf(job);
    if (index === -1) return false;
    this.#jobs.splice(index, 1);
    return true;
  }

  [Symbol.iterator](): Iterator<T> {
    return this.#jobs[Symbol.iterator]();
  }
}
