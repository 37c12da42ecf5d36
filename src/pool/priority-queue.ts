/**
 * The queue policy: priorities, and within each, tenants in turn. A queued
 * high job goes before any normal one, normal before low; within a level
 * tenants share by deficit round robin (./tenant-queue.ts), each tenant's
 * jobs in admission order. A low job that has waited `agingMs` rises to
 * normal, among its tenant's normal jobs in admission order, so a stream of
 * normal work never starves it for good.
 */
import type { Clock } from './clock.js';
import type { Job } from './job.js';
import type { RunQueue } from './run-queue.js';
import { BY_COUNT, TenantQueue, type Shares } from './tenant-queue.js';

export type Priority = 'low' | 'normal' | 'high';

export const RANK: Readonly<Record<Priority, number>> = { low: 0, normal: 1, high: 2 };

export class PriorityQueue implements RunQueue<Job> {
  readonly #levels: Readonly<Record<Priority, TenantQueue>>;
  /** The level each queued job is in: a low one may have risen to normal. */
  readonly #levelOf = new Map<Job, Priority>();
  readonly #agingMs: number;
  readonly #clock: Pick<Clock, 'now'>;

  /** @param agingMs how long a low job waits before it counts as normal; 0: never. */
  constructor(agingMs: number, clock: Pick<Clock, 'now'>, shares: Shares = BY_COUNT) {
    this.#agingMs = agingMs;
    this.#clock = clock;
    this.#levels = { high: new TenantQueue(shares), normal: new TenantQueue(shares), low: new TenantQueue(shares) };
  }

  /** The job's level now: a low one that waited long enough has risen to normal. */
  rank(job: Job, now = this.#clock.now()): number {
    const { priority } = job.request;
    return priority === 'low' && this.#agingMs > 0 && now - job.submittedAt >= this.#agingMs ? RANK.normal : RANK[priority];
  }

  get size(): number {
    return this.#levelOf.size;
  }

  push(job: Job): void {
    this.#levels[this.#place(job, job.request.priority)].push(job);
  }

  pushFront(job: Job): void {
    this.#levels[this.#place(job, this.rank(job) === RANK.normal ? 'normal' : job.request.priority)].pushFront(job);
  }

  shift(): Job | undefined {
    this.#raiseAged();
    const { high, normal, low } = this.#levels;
    const job = high.shift() ?? normal.shift() ?? low.shift();
    if (job) this.#levelOf.delete(job);
    return job;
  }

  remove(job: Job): boolean {
    const level = this.#levelOf.get(job);
    if (!level) return false;
    this.#levelOf.delete(job);
    return this.#levels[level].remove(job);
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

  #place(job: Job, level: Priority): Priority {
    this.#levelOf.set(job, level);
    return level;
  }

  /** Low jobs that waited `agingMs` move to the normal level: taken back ones to its front, the rest by admission time. */
  #raiseAged(): void {
    if (this.#agingMs === 0 || this.#levels.low.size === 0) return;
    const { front, lined } = this.#levels.low.takeAdmittedBy(this.#clock.now() - this.#agingMs);
    for (const job of front.reverse()) this.#levels[this.#place(job, 'normal')].pushFront(job);
    for (const job of lined) this.#levels[this.#place(job, 'normal')].insert(job);
  }
}
