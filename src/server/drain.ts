import { Errors } from '../errors.js';
import { ComputeServiceDefinition } from '../gen/offload/v1/compute.js';

const COMPUTE = `/${ComputeServiceDefinition.fullName}/`;
/**
 * Calls about jobs already admitted start no work: a watcher re-attaching to
 * a draining replica still gets its job's outcome, until the process exits.
 */
const ABOUT_ADMITTED_JOBS = new Set(['Watch', 'GetJob', 'CancelJob'].map((method) => COMPUTE + method));

export interface Drain {
  readonly draining: boolean;
  /** Compute calls and submitted jobs in flight. */
  readonly active: number;
  /** From now on, new compute calls (but those about admitted jobs) get UNAVAILABLE. */
  start(): void;
  /** Counts work that outlives its call (a submitted job) as in flight until `release` is called. */
  hold(this: void): () => void;
  /** Resolves true once no compute call or job is in flight, or false after `ms`. */
  waitIdle(ms: number): Promise<boolean>;
  /**
   * A call to `path` begins: true when it is counted as in flight (a compute
   * call; health and reflection are not counted) until `leave` is called for
   * it, once; no closure per call, as an open stream keeps it. Throws
   * UNAVAILABLE once draining.
   */
  enter(this: void, path: string): boolean;
  /** A call that `enter` counted has ended. */
  leave(this: void): void;
}

/**
 * Tracks in-flight compute calls and submitted jobs and, once draining,
 * refuses new calls with UNAVAILABLE so clients retry on another replica. Health and reflection
 * stay open: a balancer must still be able to see NOT_SERVING.
 */
export function createDrain(): Drain {
  let active = 0;
  let draining = false;
  const idle: (() => void)[] = [];
  const leave = (): void => {
    if (--active === 0) for (const wake of idle.splice(0)) wake();
  };
  const hold = (): (() => void) => {
    active++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      leave();
    };
  };

  return {
    get draining() {
      return draining;
    },
    get active() {
      return active;
    },
    start() {
      draining = true;
    },
    hold,
    waitIdle(ms) {
      if (active === 0) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), ms);
        idle.push(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    },
    enter(path) {
      if (!path.startsWith(COMPUTE)) return false;
      if (draining && !ABOUT_ADMITTED_JOBS.has(path)) throw Errors.shuttingDown.toServerError();
      active++;
      return true;
    },
    leave,
  };
}
