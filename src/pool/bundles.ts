/**
 * Which queued jobs cross to a worker together. A hand-over costs the loop
 * side and the worker about as much as an echo run itself, so short runs
 * waiting in the queue go in one message (a bundle) that one worker runs in
 * turn, and the hop is paid once for all of them. Only runs known to be short
 * are bundled, and a bundle holds little expected work: every reply in it
 * waits for the last run, so a long run must not sit among short ones.
 */
import type { Job } from './job.js';
import { mayGoAhead } from './placement.js';
import type { RunCosts } from './run-costs.js';
import type { RunQueue } from './run-queue.js';

/** Runs in one bundle at most. */
export const BUNDLE_MAX_RUNS = 32;
/** A task is bundled when its runs are expected to take at most this long (RunCosts). */
export const BUNDLE_RUN_MS = 1;
/** Expected run time of one bundle at most: how long its first reply may wait for its last. */
export const BUNDLE_BUDGET_MS = 2;

/**
 * The jobs to hand over with `first`, just taken from the queue: the next
 * ones in the queue's own order, while they are short and fit the budget.
 * `expectedMs` says how long a job is expected to run, or undefined when it
 * goes alone (bundledRunMs). A job that does not fit goes back to the front.
 */
export function takeBundle(first: Job, queue: RunQueue<Job>, expectedMs: (job: Job) => number | undefined, room: number): Job[] {
  const bundle = [first];
  const firstMs = expectedMs(first);
  if (firstMs === undefined || firstMs > BUNDLE_RUN_MS) return bundle;
  let budget = BUNDLE_BUDGET_MS - firstMs;
  const max = Math.min(BUNDLE_MAX_RUNS, room);
  while (bundle.length < max) {
    const next = queue.shift();
    if (!next) break;
    const ms = expectedMs(next);
    if (ms === undefined || ms > BUNDLE_RUN_MS || ms > budget) {
      queue.pushFront(next);
      break;
    }
    budget -= ms;
    bundle.push(next);
  }
  return bundle;
}

/**
 * How long a job is expected to run, or undefined when it goes alone: its
 * task never ran here, its data is too large to send ahead, or its task's
 * last run killed its worker (no other job should go down with it again).
 */
export function bundledRunMs(costs: RunCosts, crashedLast: (task: string) => boolean): (job: Job) => number | undefined {
  return (job) => (mayGoAhead(job) && !crashedLast(job.request.task) ? costs.known(job.request.task) : undefined);
}

/**
 * `dispatch` as admission calls it: at once while no worker holds anything
 * (a lone call waits for nothing), else once after this turn of the event
 * loop however often it is asked meanwhile, so the jobs admitted in one
 * turn (a network read's worth of batch items or calls) cross together.
 */
export function coalesced(dispatch: () => void, idle: () => boolean): () => void {
  let pending = false;
  return () => {
    if (idle()) return dispatch();
    if (pending) return;
    pending = true;
    setImmediate(() => {
      pending = false;
      dispatch();
    });
  };
}
