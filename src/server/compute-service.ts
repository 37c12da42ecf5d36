/**
 * The RPCs of offload.v1.ComputeService. Handlers only route: look the
 * task up, validate its input, hand it to the pool and relay what comes back.
 * Errors leave as OffloadError; the call scope (./call-scope.ts) puts them on the wire.
 */
import type { CallContext } from 'nice-grpc';
import type { TaskCatalog } from '../catalog/task-catalog.js';
import { Errors, type OffloadError } from '../errors.js';
import type {
  ComputeServiceImplementation,
  ListTasksResponse,
  Progress,
  RunBatchRequest,
  RunBatchResponse,
  RunRequest,
  RunResponse,
} from '../gen/offload/v1/compute.js';
import { createJobService } from './job-service.js';
import { callHolder, type Holder } from './lease.js';
import type { JobStore } from './job-store.js';
import type { RecordContext } from './call-record.js';
import { callEndReason } from './call-deadline.js';
import { linkCallSignal } from './call-signal.js';
import { runBatch } from './run-batch.js';
import { undecodable } from './served-definition.js';
import type { StartTask } from './start-task.js';
import { toTaskResult } from './to-wire.js';
import { withHeartbeat } from './with-heartbeat.js';

export interface ComputeServiceDeps {
  catalog: TaskCatalog;
  startTask: StartTask;
  /** Items of one RunBatch call in flight at once, after reading `previous` (./batch-window.ts). */
  batchWindow: (previous: RunBatchRequest | undefined) => number;
  /** Longest silence on a stream while work is in flight. */
  heartbeatMs: number;
  /** Where batch items that failed by the server's fault are reported. */
  onServerFault: (id: string, error: OffloadError) => void;
  /** Jobs submitted to outlive their call. */
  jobs: JobStore;
  /** Counts a submitted job as in flight for the drain until released. */
  holdForDrain: () => () => void;
}

type Context = CallContext & RecordContext;

/** Every RPC but RunStream, which has its own grpc-js handler (./serve-run-stream.ts). */
export function createComputeService(deps: ComputeServiceDeps): Omit<ComputeServiceImplementation<RecordContext>, 'runStream'> {
  const { catalog, heartbeatMs, startTask } = deps;
  const holderOf = (context: Context): Holder => ({ signal: context.signal, reason: () => callEndReason(context.metadata) });

  return {
    // A submitted job belongs to no call: no signal, so the call ending cancels nothing.
    ...createJobService({ store: deps.jobs, admit: (request, tenant, linked) => startTask(request, undefined, undefined, true, tenant, linked), heartbeatMs, hold: deps.holdForDrain }),

    async run(request: RunRequest, context: Context): Promise<RunResponse> {
      // The call ending releases its lease: the job is cancelled unless an identical request still holds it.
      const lease = await startTask(request, context.record, holderOf(context), false);
      const result = await lease.result();
      context.record.queuedMs = result.queuedMs;
      context.record.runMs = result.runMs;
      return { result: toTaskResult(result, lease.cached) };
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
            return startTask(item, context.record, holder, true);
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
