/**
 * The RPCs of offload.v1.ComputeService. Handlers only route: look the
 * task up, validate its input, hand it to the pool and relay what comes back.
 * Errors leave as OffloadError; the error middleware puts them on the wire.
 */
import type { CallContext } from 'nice-grpc';
import type { TaskCatalog } from '../catalog/task-catalog.js';
import { Errors, type OffloadError } from '../errors.js';
import {
  Priority as WirePriority,
  type ComputeServiceImplementation,
  type ListTasksResponse,
  type Progress,
  type RunBatchRequest,
  type RunBatchResponse,
  type RunRequest,
  type RunResponse,
  type RunStreamRequest,
  type RunStreamResponse,
} from '../gen/offload/v1/compute.js';
import type { Priority } from '../pool/priority-queue.js';
import type { TaskEvent } from '../pool/follower.js';
import type { TaskPool } from '../pool/task-pool.js';
import { cacheKey } from './cache-key.js';
import { createJobService } from './job-service.js';
import { callHolder, LeaseGroup, reasonOf, type Holder, type Lease } from './lease.js';
import type { SharedWork } from './shared-work.js';
import type { JobStore } from './job-store.js';
import type { RecordContext } from './call-record.js';
import { callEndReason } from './call-deadline.js';
import { linkCallSignal } from './call-signal.js';
import { runBatch } from './run-batch.js';
import { undecodable } from './served-definition.js';
import { toEventFields, toTaskResult } from './to-wire.js';
import { readWithHeartbeat, withHeartbeat } from './with-heartbeat.js';

export interface ComputeServiceDeps {
  catalog: TaskCatalog;
  pool: TaskPool;
  /** True once shutdown has begun: new work, batch items included, is refused. */
  isDraining: () => boolean;
  /** Items of one RunBatch call in flight at once, after reading `previous` (./batch-window.ts). */
  batchWindow: (previous: RunBatchRequest | undefined) => number;
  /** Longest silence on a stream while work is in flight. */
  heartbeatMs: number;
  /** Server-wide run-time limit; 0: none. */
  maxRunMs: number;
  /** Where batch items that failed by the server's fault are reported. */
  onServerFault: (id: string, error: OffloadError) => void;
  /** Jobs submitted to outlive their call. */
  jobs: JobStore;
  /** Counts a submitted job as in flight for the drain until released. */
  holdForDrain: () => () => void;
  /** Identical requests of cacheable tasks computed once; undefined: off (--cache-mb 0). */
  shared: SharedWork | undefined;
}

/** What every run request carries. */
interface TaskRequest {
  task: string;
  input: unknown;
  data: Uint8Array;
  noCache: boolean;
  priority: WirePriority;
  /** A RunBatch item's id. */
  id?: string;
}

type Context = CallContext & RecordContext;


export function createComputeService(deps: ComputeServiceDeps): ComputeServiceImplementation<RecordContext> {
  const { catalog, pool, heartbeatMs } = deps;

  /**
   * Validates and admits one task, or finds its result or an identical run
   * to share (cacheable tasks); the lease is the caller's hold on it. Throws
   * UNAVAILABLE, NOT_FOUND, INVALID_ARGUMENT or RESOURCE_EXHAUSTED.
   */
  const startTask = (request: TaskRequest, context: Context | undefined, holder: Holder | undefined, progress: boolean, tenant = context?.record.tenant): Lease | Promise<Lease> => {
    if (deps.isDraining()) throw Errors.shuttingDown;
    const task = catalog.get(request.task);
    const input = task.validate(request.input);
    const priority = poolPriority(request.priority);
    const runLimitMs = task.timeoutMs && deps.maxRunMs ? Math.min(task.timeoutMs, deps.maxRunMs) : (task.timeoutMs ?? deps.maxRunMs);
    // A shared run carries progress whoever started it: a stream may join a unary call's run.
    const start = (withProgress: boolean) => () =>
      // The request message is not read again once its task is admitted.
      pool.run(task, input, request.data, { progress: withProgress, runLimitMs, handOverData: true, call: context?.record.call, item: request.id, priority, tenant });
    const { shared } = deps;
    // A call that has already ended starts nothing: a job admitted for it would run for no one.
    if (holder?.signal.aborted) throw reasonOf(holder);
    if (!task.cache || !shared) return new LeaseGroup(start(progress)()).lease(false, holder);
    // Hashed before admission: the data's buffer moves to the worker then.
    return cacheKey(task, input, request.data).then((key) => {
      if (deps.isDraining()) throw Errors.shuttingDown;
      const lease = shared.lease(task.name, key, request.noCache, start(true), holder);
      // A batch's log line is the whole call's: its items say cached in their results.
      if (context && request.id === undefined) context.record.cached = lease.cached;
      return lease;
    });
  };
  const holderOf = (context: Context): Holder => ({ signal: context.signal, reason: () => callEndReason(context.metadata) });

  return {
    // A submitted job belongs to no call: no signal, so the call ending cancels nothing.
    ...createJobService({ store: deps.jobs, admit: (request, tenant) => startTask(request, undefined, undefined, true, tenant), heartbeatMs, hold: deps.holdForDrain }),

    async run(request: RunRequest, context: Context): Promise<RunResponse> {
      // The call ending releases its lease: the job is cancelled unless an identical request still holds it.
      const lease = await startTask(request, context, holderOf(context), false);
      const result = await lease.result();
      context.record.queuedMs = result.queuedMs;
      context.record.runMs = result.runMs;
      return { result: toTaskResult(result, lease.cached) };
    },

    async *runStream(request: RunStreamRequest, context: Context): AsyncIterable<RunStreamResponse> {
      let latest: Progress = { fraction: 0, message: '' };
      const lease = await startTask(request, context, holderOf(context), true);
      // The lease is released if this generator stops early (the client went away).
      const events = readWithHeartbeat<TaskEvent>((onReadable) => lease.watch(onReadable), heartbeatMs, () => ({ type: 'progress', ...latest }));
      for await (const event of events) {
        if (event.type === 'progress') latest = { fraction: event.fraction, message: event.message };
        if (event.type === 'result') Object.assign(context.record, { queuedMs: event.queuedMs, runMs: event.runMs });
        yield toEventFields(event, lease.cached);
      }
    },

    async *runBatch(requests: AsyncIterable<RunBatchRequest>, context: Context): AsyncIterable<RunBatchResponse> {
      const call = linkCallSignal(context.signal, () => callEndReason(context.metadata));
      const holder = callHolder(call.signal, () => callEndReason(context.metadata));
      // The latest progress of every item in flight, for heartbeats.
      const inFlight = new Map<string, Progress>();
      context.record.items = 0;
      try {
        const events = runBatch(requests, {
          window: deps.batchWindow,
          start: (item) => {
            context.record.items!++;
            const reason = undecodable(item);
            if (reason !== undefined) throw Errors.itemUndecodable(reason);
            return startTask(item, context, holder, true);
          },
          onServerFault: deps.onServerFault,
        });
        const heartbeat = (): RunBatchResponse | undefined => {
          const first = inFlight.entries().next();
          return first.done ? undefined : { id: first.value[0], progress: first.value[1] };
        };
        for await (const event of withHeartbeat(events, heartbeatMs, heartbeat)) {
          if (event.started) inFlight.set(event.id, { fraction: 0, message: '' });
          else if (event.progress) inFlight.set(event.id, event.progress);
          else inFlight.delete(event.id);
          yield event;
        }
      } finally {
        call.dispose();
      }
    },

    async listTasks(): Promise<ListTasksResponse> {
      return {
        tasks: catalog.list().map((task) => ({ name: task.name, description: task.description, inputSchema: task.inputSchema })),
      };
    },
  };
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
