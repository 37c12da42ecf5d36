/**
 * What each tenant has in the pool: the per-tenant bound on admission
 * (--max-queue-per-tenant) and the queue depth by tenant and priority.
 */
import { Errors } from '../errors.js';
import type { Job } from './job.js';
import type { QueueDepth } from './task-pool-options.js';

export class TenantLoad {
  /** Live jobs (waiting or running) by tenant. */
  readonly #live = new Map<string, number>();
  readonly #workers: number;
  readonly #maxQueue: number;

  /** A tenant may have `workers + maxQueue` live jobs, as the pool's own bound counts them. */
  constructor(workers: number, maxQueue: number) {
    this.#workers = workers;
    this.#maxQueue = maxQueue;
  }

  /** Throws RESOURCE_EXHAUSTED when `tenant` may not have another job admitted. */
  check(tenant: string): void {
    if ((this.#live.get(tenant) ?? 0) >= this.#workers + this.#maxQueue) throw Errors.tenantQueueFull(tenant, this.#maxQueue);
  }

  admitted(tenant: string): void {
    this.#live.set(tenant, (this.#live.get(tenant) ?? 0) + 1);
  }

  ended(tenant: string): void {
    const live = (this.#live.get(tenant) ?? 0) - 1;
    if (live > 0) this.#live.set(tenant, live);
    else this.#live.delete(tenant);
  }
}

/** Jobs waiting (queued, or sent ahead and not started) by tenant and priority. */
export function queueDepths(jobs: Iterable<Job>): QueueDepth[] {
  const depths = new Map<string, QueueDepth>();
  for (const job of jobs) {
    if (job.state !== 'queued' && job.state !== 'sent') continue;
    const { tenant, priority } = job.request;
    const key = `${priority} ${tenant}`;
    const depth = depths.get(key) ?? { tenant, priority, waiting: 0 };
    depth.waiting++;
    depths.set(key, depth);
  }
  return [...depths.values()];
}
