import type { TaskCatalog } from '../catalog/task-catalog.js';
import { Errors } from '../errors.js';
import { Priority as WirePriority } from '../gen/offload/v1/compute.js';
import type { Priority } from '../pool/priority-queue.js';
import type { TaskPool } from '../pool/task-pool.js';
import { cacheKey } from './cache-key.js';
import type { CallRecord } from './call-record.js';
import { LeaseGroup, reasonOf, type Holder, type Lease } from './lease.js';
import type { SharedWork } from './shared-work.js';
import type { CallSpans, LinkedSpan } from '../telemetry/call-spans.js';

/** What every run request carries. */
export interface TaskRequest {
  task: string;
  input: unknown;
  data: Uint8Array;
  noCache: boolean;
  priority: WirePriority;
  /** A RunBatch item's id. */
  id?: string;
  /** A submitted job's id. */
  jobId?: string;
}

export interface StartTaskDeps {
  catalog: TaskCatalog;
  pool: TaskPool;
  /** True once shutdown has begun: new work, batch items included, is refused. */
  isDraining: () => boolean;
  /** Server-wide run-time limit; 0: none. */
  maxRunMs: number;
  /** Identical requests of cacheable tasks computed once; undefined: off (--cache-mb 0). */
  shared: SharedWork | undefined;
  /** With tracing on: a batch item's or a job's run gets a span of its own, linked to its call's. */
  spans?: CallSpans | undefined;
}

/**
 * Validates and admits one task, or finds its result or an identical run to
 * share (cacheable tasks); the lease is the caller's hold on it. `record` is
 * the call's (undefined for a submitted job, which belongs to no call);
 * `holder` its signal; `progress`: the caller reads progress. Throws
 * UNAVAILABLE, NOT_FOUND, INVALID_ARGUMENT or RESOURCE_EXHAUSTED.
 */
export type StartTask = (request: TaskRequest, record: CallRecord | undefined, holder: Holder | undefined, progress: boolean, tenant?: string, linked?: LinkedSpan) => Lease | Promise<Lease>;

export function createStartTask(deps: StartTaskDeps): StartTask {
  const { catalog, pool } = deps;
  return (request, record, holder, progress, tenant = record?.tenant, linked = itemSpan(request, record)) => {
    if (deps.isDraining()) throw Errors.shuttingDown;
    const task = catalog.get(request.task);
    const input = task.validate(request.input);
    const priority = poolPriority(request.priority);
    const runLimitMs = task.timeoutMs && deps.maxRunMs ? Math.min(task.timeoutMs, deps.maxRunMs) : (task.timeoutMs ?? deps.maxRunMs);
    // A shared run carries progress whoever started it: a stream may join a unary call's run.
    const start = (withProgress: boolean) => () => {
      // Made only when a run is admitted: a request that joins an identical run has none of its own.
      const own = linked && deps.spans?.linked(linked);
      try {
        // The request message is not read again once its task is admitted.
        return pool.run(task, input, request.data, { progress: withProgress, runLimitMs, handOverData: true, call: record?.call, item: request.id, job: request.jobId, priority, tenant, trace: own ? own.carrier : record?.trace });
      } catch (error) {
        own?.failed(error);
        throw error;
      }
    };
    const { shared } = deps;
    // A call that has already ended starts nothing: a job admitted for it would run for no one.
    if (holder?.signal.aborted) throw reasonOf(holder);
    if (!task.cache || !shared) return new LeaseGroup(start(progress)()).lease(false, holder);
    // Hashed before admission: the data's buffer moves to the worker then.
    return cacheKey(task, input, request.data).then((key) => {
      if (deps.isDraining()) throw Errors.shuttingDown;
      const lease = shared.lease(task.name, key, request.noCache, start(true), holder);
      // A batch's log line is the whole call's: its items say cached in their results.
      if (record && request.id === undefined) record.cached = lease.cached;
      return lease;
    });
  };
}

/** A RunBatch item's span: its own trace, linked to the batch's call. */
function itemSpan(request: TaskRequest, record: CallRecord | undefined): LinkedSpan | undefined {
  return request.id === undefined || !record?.trace ? undefined : { trace: record.trace, name: 'RunBatch item', attributes: { 'offload.item': request.id, 'offload.task': request.task } };
}

/** The wire's Priority as the pool's; unspecified is normal, anything else outside the enum INVALID_ARGUMENT. */
function poolPriority(value: WirePriority): Priority {
  switch (value) {
    case WirePriority.PRIORITY_LOW:
      return 'low';
    case WirePriority.PRIORITY_HIGH:
      return 'high';
    case WirePriority.PRIORITY_UNSPECIFIED:
    case WirePriority.PRIORITY_NORMAL:
      return 'normal';
    default:
      throw Errors.invalidPriority(value);
  }
}
