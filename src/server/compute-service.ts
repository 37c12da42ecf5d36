/**
 * The four RPCs of offload.v1.ComputeService. Handlers only route: look the
 * task up, validate its input, hand it to the pool and relay what comes back.
 * Errors leave as OffloadError; the error middleware puts them on the wire.
 */
import type { CallContext } from 'nice-grpc';
import type { TaskCatalog } from '../catalog/task-catalog.js';
import type {
  ComputeServiceImplementation,
  ListTasksResponse,
  RunBatchRequest,
  RunBatchResponse,
  RunRequest,
  RunResponse,
  RunStreamRequest,
  RunStreamResponse,
} from '../gen/offload/v1/compute.js';
import type { TaskPool } from '../pool/task-pool.js';
import type { TaskRun } from '../pool/task-run.js';
import { linkCallSignal } from './call-signal.js';
import { runBatch } from './run-batch.js';
import { toEventFields, toTaskResult } from './to-wire.js';

export interface ComputeServiceDeps {
  catalog: TaskCatalog;
  pool: TaskPool;
  /** Aborts every call's tasks when the server gives up on them (end of shutdown grace). */
  serverSignal: AbortSignal;
  /** Items of one RunBatch call in flight at once. */
  batchWindow: number;
  /** Where failures that are the server's fault are reported. */
  onServerFault: (error: unknown) => void;
}

export function createComputeService(deps: ComputeServiceDeps): ComputeServiceImplementation {
  const { catalog, pool, serverSignal } = deps;

  /** Validates and admits one task; throws NOT_FOUND, INVALID_ARGUMENT or RESOURCE_EXHAUSTED. */
  const startTask = (request: { task: string; input: unknown; data: Uint8Array }, signal: AbortSignal, progress: boolean): TaskRun => {
    const task = catalog.get(request.task);
    const input = task.validate(request.input);
    return pool.run(task, input, request.data, { signal, progress });
  };

  return {
    async run(request: RunRequest, context: CallContext): Promise<RunResponse> {
      const call = linkCallSignal(context.signal, serverSignal);
      try {
        const result = await startTask(request, call.signal, false).result();
        return { result: toTaskResult(result) };
      } finally {
        call.dispose();
      }
    },

    async *runStream(request: RunStreamRequest, context: CallContext): AsyncIterable<RunStreamResponse> {
      const call = linkCallSignal(context.signal, serverSignal);
      try {
        for await (const event of startTask(request, call.signal, true)) yield toEventFields(event);
      } finally {
        call.dispose();
      }
    },

    async *runBatch(requests: AsyncIterable<RunBatchRequest>, context: CallContext): AsyncIterable<RunBatchResponse> {
      const call = linkCallSignal(context.signal, serverSignal);
      try {
        yield* runBatch(requests, {
          window: deps.batchWindow,
          signal: call.signal,
          start: (item) => startTask(item, call.signal, true),
          onServerFault: deps.onServerFault,
        });
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
