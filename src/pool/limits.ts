/**
 * The limits on a job's time: how long it may wait for a worker
 * (--max-queue-ms), how long it may run (--max-run-ms or the task's own),
 * and how long a cancelled task that ignores its signal keeps its worker.
 */
import { Errors, type OffloadError } from '../errors.js';
import type { Clock, Timer } from './clock.js';
import type { Job } from './job.js';

/** How often the limits are checked: one timer for every job. */
export const SWEEP_MS = 20;

/** The limit `job` has broken at `now`, if any. */
export function brokenLimit(job: Job, now: number, maxQueueMs: number): OffloadError | undefined {
  const { startedAt } = job;
  if (startedAt === undefined) {
    return maxQueueMs > 0 && now - job.submittedAt >= maxQueueMs ? Errors.queueWaitExceeded(job.request.task, maxQueueMs) : undefined;
  }
  const { runLimitMs, task } = job.request;
  return runLimitMs > 0 && now - startedAt >= runLimitMs ? Errors.runLimitExceeded(task, runLimitMs) : undefined;
}

/** Calls `sweep` every SWEEP_MS while `active()` says there is something to check. */
export class Sweeper {
  #timer: Timer | undefined;
  readonly #clock: Clock;
  readonly #sweep: () => void;
  readonly #active: () => boolean;

  constructor(clock: Clock, sweep: () => void, active: () => boolean) {
    this.#clock = clock;
    this.#sweep = sweep;
    this.#active = active;
  }

  /** Starts sweeping, if it is not already. */
  wake(): void {
    this.#timer ??= this.#clock.setTimeout(() => this.#tick(), SWEEP_MS);
  }

  stop(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    this.#timer = undefined;
    if (!this.#active()) return;
    this.#sweep();
    this.wake();
  }
}
