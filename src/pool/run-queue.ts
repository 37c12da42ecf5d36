/**
 * Where admitted jobs wait for a worker, behind one small seam: the pool
 * only pushes, takes the next, and removes; which job is next is the
 * policy's alone. FIFO is the first policy (./fifo-queue.ts); priorities and
 * per-tenant fair queuing are others. Modelled on piscina's own TaskQueue
 * (src/task_queue/common.ts in piscina's repository).
 */
export interface RunQueue<T> extends Iterable<T> {
  /** Jobs waiting. */
  readonly size: number;
  /** A newly admitted job. */
  push(job: T): void;
  /** A job that goes before every other: it was taken back from a worker or lost its worker before it started. */
  pushFront(job: T): void;
  /** The job to hand to a worker next, removed from the queue; undefined when none waits. */
  shift(): T | undefined;
  /** Takes a job out (it was cancelled, or timed out waiting); false when it was not queued. */
  remove(job: T): boolean;
  /**
   * Whether a newly admitted `job` should start before `waiting`, a job
   * already handed to a busy worker and not started: the pool then takes
   * `waiting` back to the queue. FIFO never says so.
   */
  outranks?(job: T, waiting: T): boolean;
}
