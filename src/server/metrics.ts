/**
 * offload's Prometheus metrics, all in one registry (default Node metrics
 * included, event-loop lag among them) so /metrics serves everything.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { Status } from '../errors.js';
import type { PoolStats, QueueDepth, SettledRun } from '../pool/task-pool.js';
import type { JobStateName } from './job-store.js';
import type { CacheLookup } from './shared-work.js';

const TASK_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const RPC_BUCKETS = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300];

export interface Metrics {
  readonly registry: Registry;
  /** Wires the pool's gauges; called once the pool exists. */
  watchPool(stats: () => PoolStats, queueDepths: () => QueueDepth[]): void;
  /** Wires the jobs gauge: how many retained jobs are in each state. */
  watchJobs(count: () => Record<JobStateName, number>): void;
  taskSettled(this: void, run: SettledRun): void;
  /** A request of a cacheable task answered from the cache, joined to a twin's run, or run. */
  cacheLookup(this: void, task: string, result: CacheLookup): void;
  /** Wires the cache's gauges. */
  watchCache(cache: { readonly bytes: number; readonly size: number }): void;
  workerRestarted(): void;
  rpcFinished(method: string, code: Status, seconds: number): void;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  let stats: () => PoolStats = () => ({ running: 0, queued: 0, readyWorkers: 0 });
  let queueDepths: () => QueueDepth[] = () => [];
  const tenantLabel = createTenantLabels();
  let jobCounts: (() => Record<JobStateName, number>) | undefined;
  let cache: { readonly bytes: number; readonly size: number } = { bytes: 0, size: 0 };

  new Gauge({
    name: 'offload_queue_depth',
    help: 'Tasks admitted and waiting for a worker, by tenant and priority (low, normal, high).',
    labelNames: ['tenant', 'priority'],
    registers: [registry],
    collect() {
      // Only the tenants waiting now: one that has nothing waiting drops out rather than staying at 0.
      this.reset();
      for (const { tenant, priority, waiting } of queueDepths()) this.inc({ tenant: tenantLabel(tenant), priority }, waiting);
    },
  });
  new Gauge({
    name: 'offload_tasks_running',
    help: 'Tasks running on a worker now.',
    registers: [registry],
    collect() {
      this.set(stats().running);
    },
  });
  new Gauge({
    name: 'offload_workers_ready',
    help: 'Worker threads started and able to take a task (fewer than --workers while a lost one is being replaced).',
    registers: [registry],
    collect() {
      this.set(stats().readyWorkers);
    },
  });
  new Gauge({
    name: 'offload_jobs',
    help: 'Jobs submitted with Submit and still retained, by state (queued, running, succeeded, failed, cancelled).',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      if (!jobCounts) return;
      for (const [state, count] of Object.entries(jobCounts())) this.set({ state }, count);
    },
  });
  const cacheRequests = new Counter({
    name: 'offload_cache_requests_total',
    help: 'Requests of cacheable tasks by task and how they were answered: hit (the cache), joined (an identical run in flight), miss (a run of their own).',
    labelNames: ['task', 'result'],
    registers: [registry],
  });
  new Gauge({
    name: 'offload_cache_bytes',
    help: 'Bytes of results held in the result cache (outputs and data).',
    registers: [registry],
    collect() {
      this.set(cache.bytes);
    },
  });
  new Gauge({
    name: 'offload_cache_entries',
    help: 'Results held in the result cache.',
    registers: [registry],
    collect() {
      this.set(cache.size);
    },
  });
  const duration = new Histogram({
    name: 'offload_task_duration_seconds',
    help: 'Time tasks ran on a worker, by task and outcome (a gRPC status name).',
    labelNames: ['task', 'outcome'],
    buckets: TASK_BUCKETS,
    registers: [registry],
  });
  const queued = new Histogram({
    name: 'offload_task_queue_seconds',
    help: 'Time tasks waited for a worker, by task and tenant.',
    labelNames: ['task', 'tenant'],
    buckets: TASK_BUCKETS,
    registers: [registry],
  });
  const restarts = new Counter({
    name: 'offload_worker_restarts_total',
    help: 'Workers that died or were terminated (a task ignoring cancellation, a crash, the memory cap) and were replaced.',
    registers: [registry],
  });
  const rpcs = new Counter({
    name: 'offload_rpc_requests_total',
    help: 'Finished RPCs by method and gRPC status code.',
    labelNames: ['method', 'code'],
    registers: [registry],
  });
  const rpcSeconds = new Histogram({
    name: 'offload_rpc_duration_seconds',
    help: 'RPC latency by method and gRPC status code.',
    labelNames: ['method', 'code'],
    buckets: RPC_BUCKETS,
    registers: [registry],
  });

  return {
    registry,
    watchPool(source, depths) {
      stats = source;
      queueDepths = depths;
    },
    watchJobs(count) {
      jobCounts = count;
    },
    cacheLookup(task, result) {
      cacheRequests.inc({ task, result });
    },
    watchCache(source) {
      cache = source;
    },
    taskSettled(run) {
      if (run.queuedMs !== undefined) queued.observe({ task: run.task, tenant: tenantLabel(run.tenant) }, run.queuedMs / 1000);
      if (run.runMs !== undefined) duration.observe({ task: run.task, outcome: Status[run.code] }, run.runMs / 1000);
    },
    workerRestarted() {
      restarts.inc();
    },
    rpcFinished(method, code, seconds) {
      const labels = { method, code: Status[code] };
      rpcs.inc(labels);
      rpcSeconds.observe(labels, seconds);
    },
  };
}

/** Distinct tenants given a label of their own; later ones share `_other`. */
export const MAX_TENANT_LABELS = 100;

/**
 * Tenant names as metric labels. Without auth a caller names its own tenant,
 * so the names are unbounded: the first MAX_TENANT_LABELS keep their name, and
 * the rest are counted together rather than growing the registry without end.
 */
function createTenantLabels(): (tenant: string) => string {
  const named = new Set<string>();
  return (tenant) => {
    if (named.has(tenant)) return tenant;
    if (named.size >= MAX_TENANT_LABELS) return '_other';
    named.add(tenant);
    return tenant;
  };
}
