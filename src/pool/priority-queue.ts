/**
 * The queue policy with priorities: a queued high job goes before any
 * normal one, normal before low, FIFO within a level. A low job that has
 * waited `agingMs` counts as normal (in the order it was admitted among the
 * normal ones), so a stream of normal work never starves it for good.
 */
import type { Clock } from './clock.js';
import type { Job } from './job.js';
import type { RunQueue } from './run-queue.js';

export type Priority = 'low' | 'normal' | 'high';

export const RANK: Readonly<Record<Priority, number>> = { low: 0, normal: 1, high: 2 };

export class PriorityQueue implements RunQueue<Job> {
  readonly #levels: Record<Priority, Job[]> = { high: [], normal: [], low: [] };
  readonly #agingMs: number;
  readonly #clock: Pick<Clock, 'now'>;

  constructor(agingMs: number, clock: Pick<Clock, 'now'>) {
    this.#agingMs = agingMs;
    this.#clock = clock;
  }

  /** The job's level now: a low one that waited long enough has risen to normal. */
  rank(job: Job, now = this.#clock.now()): number {
    const { priority } = job.request;
    return priority === 'low' && now - job.submittedAt >= this.#agingMs ? RANK.normal : RANK[priority];
  }

  get size(): number {
    return this.#levels.high.length + this.#levels.normal.length + this.#levels.low.length;
  }

  push(job: Job): void {
    this.#levels[job.request.priority].push(job);
  }

  pushFront(job: Job): void {
    this.#levels[job.request.priority].unshift(job);
  }

  shift(): Job | undefined {
    const { high, normal, low } = this.#levels;
    if (high.length > 0) return high.shift();
    const oldLow = low[0];
    // An aged low job competes with the normal ones by admission time.
    if (oldLow && this.rank(oldLow) === RANK.normal && (normal.length === 0 || oldLow.submittedAt <= normal[0]!.submittedAt)) return low.shift();
    return normal.shift() ?? low.shift();
  }

  remove(job: Job): boolean {
    const level = this.#levels[job.request.priority];
    const index = level.indexOf(job);
    if (index === -1) return false;
    level.splice(index, 1);
    return true;
  }

  outranks(job: Job, waiting: Job): boolean {
    const now = this.#clock.now();
    return this.rank(job, now) > this.rank(waiting, now);
  }

  *[Symbol.iterator](): Iterator<Job> {
    yield* this.#levels.high;
    yield* this.#levels.normal;
    yield* this.#levels.low;
  }
}
