/**
 * How long each task is expected to run, learnt from its runs. Fair queuing
 * charges a tenant for the worker time its jobs are expected to take, not
 * for their count, so a tenant sending hour-long tasks cannot take the
 * workers from one sending short ones by queuing as many.
 */
import type { Shares } from './tenant-queue.js';

/** Weight of the newest run in a task's expected run time: recent runs count most, one outlier little. */
const SMOOTHING = 0.2;
/** No task is expected to cost nothing: every run holds a worker for a while. */
const FLOOR_MS = 0.001;

export class RunCosts {
  readonly #expectedMs = new Map<string, number>();
  #longest: number | undefined = 1;

  /** A run of `task` held its worker for `ms`. */
  record(task: string, ms: number): void {
    const before = this.#expectedMs.get(task);
    const after = Math.max(FLOOR_MS, before === undefined ? ms : before + SMOOTHING * (ms - before));
    this.#expectedMs.set(task, after);
    this.#longest = undefined;
  }

  /** The expected run time of `task` in ms; a task not run yet counts as the longest, so a newcomer is not cheap. */
  of(task: string): number {
    return this.#expectedMs.get(task) ?? this.longest;
  }

  /** The expected run time of `task` in ms, or undefined before it ran here. */
  known(task: string): number | undefined {
    return this.#expectedMs.get(task);
  }

  /** The longest expected run time of any task (1 ms before any ran): fair queuing's quantum. */
  get longest(): number {
    this.#longest ??= Math.max(FLOOR_MS, ...this.#expectedMs.values());
    return this.#longest;
  }
}

/** Fair queuing's terms: a job costs its task's expected run time, a turn grants the longest, times the tenant's weight. */
export function sharesByRunTime(costs: RunCosts, weights: ReadonlyMap<string, number> | undefined): Shares {
  return {
    cost: (job) => costs.of(job.request.task),
    quantum: () => costs.longest,
    weight: (tenant) => weights?.get(tenant) ?? 1,
  };
}
