/**
 * The TypeScript client: typed calls, deadlines that really apply, retries
 * of unary runs with backoff, bearer tokens, the tenant, TLS, client-side
 * round-robin over several replicas, and jobs routed to their replica. Every
 * failure is an OffloadError with its status.
 */
import type { ChannelOptions } from '@grpc/grpc-js';
import { Errors } from '../errors.js';
import type { RunBatchRequest } from '../gen/offload/v1/compute.js';
import { isTenantName } from '../tenant-name.js';
import type { TlsOptions } from './channel-credentials.js';
import {
  fromBatchResponse,
  fromStreamResponse,
  fromWireResult,
  toBuffer,
  toWirePriority,
  type BatchEvent,
  type BatchItem,
  type Json,
  type RunEvent,
  type RunPriority,
  type TaskInfo,
  type TaskResult,
} from './events.js';
import { openGrpcClient } from './grpc-client.js';
import { createJobHandle, submitJob, type JobContext, type JobHandle, type SubmitOptions, type SubmittedJob } from './job-handle.js';
import { createJobRoutes } from './job-routes.js';
import { resolveRetry, retryCallOptions, type RetryOptions } from './retry-options.js';
import { toOffloadError } from './to-offload-error.js';

export type { RetryOptions } from './retry-options.js';
// Kept here for the tests that import it from its first home.
export { grpcTimeout } from './grpc-client.js';

export interface ComputeClientOptions {
  /** TLS: `true` for the system's roots, or CA and client certificate (paths or PEM). */
  tls?: boolean | TlsOptions;
  /** Sent as `authorization: Bearer TOKEN`. */
  token?: string;
  /**
   * Sent as `offload-tenant` metadata on every call: whose work it is, on a
   * server without auth (with auth the token decides). 1 to 64 characters of
   * A-Z, a-z, 0-9, ".", "_" or "-".
   */
  tenant?: string;
  /** Retries of unary `run`, Submit, GetJob and CancelJob, and a watch's re-attaches; `false` turns them off. */
  retry?: RetryOptions | false;
  /** Default deadline of every call, in ms from its start (of a whole watch, re-attaches included). */
  deadlineMs?: number;
  /** Largest message sent or received; default 64 MiB, as the server's. */
  maxMessageBytes?: number;
  /** Extra grpc-js channel options. */
  channelOptions?: ChannelOptions;
}

export interface CallOptionsIn {
  data?: Uint8Array;
  /** Compute afresh even when the task is cacheable (and refresh the server's cached result). */
  noCache?: boolean;
  /** Which queued runs start first on the server; default normal. */
  priority?: RunPriority;
  signal?: AbortSignal;
  /** A Date, or ms from now; overrides the client's deadlineMs. */
  deadline?: Date | number;
}

export interface ComputeClient {
  /** Runs a task and returns its output. */
  run<Output = Json>(task: string, input?: Json, options?: CallOptionsIn): Promise<Output>;
  /** Runs a task and returns its output, bytes and timings. */
  runForResult<Output = Json>(task: string, input?: Json, options?: CallOptionsIn): Promise<TaskResult<Output>>;
  /** Runs a task, yielding started, progress and result events. */
  runStream<Output = Json>(task: string, input?: Json, options?: CallOptionsIn): AsyncIterable<RunEvent<Output>>;
  /** Runs every item (from any iterable, sync or async), yielding events tagged with item ids. */
  runBatch<Output = Json>(items: Iterable<BatchItem> | AsyncIterable<BatchItem>, options?: Omit<CallOptionsIn, 'data'>): AsyncIterable<BatchEvent<Output>>;
  listTasks(options?: Omit<CallOptionsIn, 'data'>): Promise<TaskInfo[]>;
  /** Submits a job that outlives the call; `options.signal`/`deadline` bound the Submit call only. */
  submit<Output = Json>(task: string, input?: Json, options?: SubmitOptions): Promise<SubmittedJob<Output>>;
  /** A handle on an existing job, by id; no call is made until it is used. */
  job<Output = Json>(id: string): JobHandle<Output>;
  /** Closes the channels; calls in flight fail. */
  close(): void;
}

/**
 * `target` is host:port, a list (`ipv4:127.0.0.1:5001,127.0.0.1:5002`) or a
 * DNS name (`dns:offload.default.svc:50051`); several addresses are balanced
 * round-robin, call by call, except calls about a job, which go to the
 * replica its id hashes to (job-routes.ts).
 */
export function createComputeClient(target: string, options: ComputeClientOptions = {}): ComputeClient {
  // Refused here, not by every call's server: a mistyped name fails once, at the line that made it.
  if (options.tenant !== undefined && !isTenantName(options.tenant)) throw Errors.invalidTenant;
  const { grpc, channel } = openGrpcClient(target, options);
  const routes = createJobRoutes(target, grpc, options);
  const retry = resolveRetry(options.retry);
  const jobs: JobContext = { routes, retry, deadlineMs: options.deadlineMs };
  const callOptions = ({ signal, deadline }: Omit<CallOptionsIn, 'data'> = {}) => {
    const effective = deadline ?? options.deadlineMs;
    return { ...(signal ? { signal } : {}), ...(effective !== undefined ? { deadline: effective } : {}) };
  };

  const runForResult = async <Output>(task: string, input?: Json, opts: CallOptionsIn = {}): Promise<TaskResult<Output>> => {
    try {
      const response = await grpc.run({ task, input, data: toBuffer(opts.data), noCache: opts.noCache ?? false, priority: toWirePriority(opts.priority) }, { ...callOptions(opts), ...retryCallOptions(retry) });
      return fromWireResult<Output>(response.result);
    } catch (error) {
      throw toOffloadError(error);
    }
  };

  return {
    runForResult,
    run: async (task, input, opts) => (await runForResult(task, input, opts)).output as never,

    async *runStream<Output>(task: string, input?: Json, opts: CallOptionsIn = {}) {
      try {
        for await (const response of grpc.runStream({ task, input, data: toBuffer(opts.data), noCache: opts.noCache ?? false, priority: toWirePriority(opts.priority) }, callOptions(opts))) {
          const event = fromStreamResponse<Output>(response);
          if (event) yield event;
        }
      } catch (error) {
        throw toOffloadError(error);
      }
    },

    async *runBatch<Output>(items: Iterable<BatchItem> | AsyncIterable<BatchItem>, opts: Omit<CallOptionsIn, 'data'> = {}) {
      async function* requests(): AsyncGenerator<RunBatchRequest> {
        for await (const item of items) yield { id: item.id, task: item.task, input: item.input, data: toBuffer(item.data), noCache: item.noCache ?? false, priority: toWirePriority(item.priority) };
      }
      try {
        for await (const response of grpc.runBatch(requests(), callOptions(opts))) {
          const event = fromBatchResponse<Output>(response);
          if (event) yield event;
        }
      } catch (error) {
        throw toOffloadError(error);
      }
    },

    async listTasks(opts) {
      try {
        const { tasks } = await grpc.listTasks({}, callOptions(opts));
        return tasks.map((t) => ({ name: t.name, description: t.description, inputSchema: t.inputSchema ?? {} }));
      } catch (error) {
        throw toOffloadError(error);
      }
    },

    submit: (task, input, opts) => submitJob(jobs, task, input, opts),
    job: (id) => createJobHandle(jobs, id),

    close: () => {
      routes.close();
      channel.close();
    },
  };
}
