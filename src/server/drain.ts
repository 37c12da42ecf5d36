import type { CallContext, ServerMiddlewareCall } from 'nice-grpc';
import { Errors } from '../errors.js';
import { ComputeServiceDefinition } from '../gen/offload/v1/compute.js';

const COMPUTE = `/${ComputeServiceDefinition.fullName}/`;

export interface Drain {
  readonly draining: boolean;
  /** Compute calls in flight. */
  readonly active: number;
  /** From now on, new compute calls get UNAVAILABLE. */
  start(): void;
  /** Resolves true once no compute call is in flight, or false after `ms`. */
  waitIdle(ms: number): Promise<boolean>;
  middleware<Request, Response>(
    this: void,
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ): AsyncGenerator<Response, Response | void, undefined>;
}

/**
 * Tracks in-flight compute calls and, once draining, refuses new ones with
 * UNAVAILABLE so clients retry on another replica. Health and reflection
 * stay open: a balancer must still be able to see NOT_SERVING.
 */
export function createDrain(): Drain {
  let active = 0;
  let draining = false;
  const idle: (() => void)[] = [];

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
    async *middleware(call, context) {
      if (!call.method.path.startsWith(COMPUTE)) return yield* call.next(call.request, context);
      if (draining) throw Errors.shuttingDown.toServerError();
      active++;
      try {
        return yield* call.next(call.request, context);
      } finally {
        if (--active === 0) for (const wake of idle.splice(0)) wake();
      }
    },
  };
}
