/**
 * The TypeScript client: typed calls, deadlines that really apply, retries
 * of unary runs with backoff, bearer tokens, TLS, and client-side round-robin
 * over several replicas. Every failure is an OffloadError with its status.
 */
import type { ChannelOptions } from '@grpc/grpc-js';
import { ClientError, createChannel, createClientFactory, Metadata, type CallOptions, type ClientMiddleware, type ClientMiddlewareCall } from 'nice-grpc';
import { deadlineMiddleware, type DeadlineOptions } from 'nice-grpc-client-middleware-deadline';
import { retryMiddleware } from 'nice-grpc-client-middleware-retry';
import { Errors, OffloadError, Status } from '../errors.js';
import { ComputeServiceDefinition, type RunBatchRequest } from '../gen/offload/v1/compute.js';
import { createChannelCredentials, type TlsOptions } from './channel-credentials.js';
import {
  fromBatchResponse,
  fromStreamResponse,
  fromWireResult,
  type BatchEvent,
  type BatchItem,
  type Json,
  type RunEvent,
  type TaskInfo,
  type TaskResult,
} from './events.js';

export interface RetryOptions {
  /** Retries after the first attempt; default 4. */
  maxRetries?: number;
  /** First backoff, doubled each time (with jitter); default 100. */
  baseDelayMs?: number;
  /** Longest backoff; default 5000. */
  maxDelayMs?: number;
  /** Default: UNAVAILABLE and RESOURCE_EXHAUSTED. */
  statuses?: Status[];
}

export interface ComputeClientOptions {
  /** TLS: `true` for the system's roots, or CA and client certificate (paths or PEM). */
  tls?: boolean | TlsOptions;
  /** Sent as `authorization: Bearer TOKEN`. */
  token?: string;
  /** Retries of unary `run` (tasks are expected to be idempotent); `false` turns them off. */
  retry?: RetryOptions | false;
  /** Default deadline of every call, in ms from its start. */
  deadlineMs?: number;
  /** Largest message sent or received; default 64 MiB, as the server's. */
  maxMessageBytes?: number;
  /** Extra grpc-js channel options. */
  channelOptions?: ChannelOptions;
}

export interface CallOptionsIn {
  data?: Uint8Array;
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
  /** Closes the channel; calls in flight fail. */
  close(): void;
}

const DEFAULT_RETRY: Required<RetryOptions> = {
  maxRetries: 4,
  baseDelayMs: 100,
  maxDelayMs: 5000,
  statuses: [Status.UNAVAILABLE, Status.RESOURCE_EXHAUSTED],
};

/**
 * `target` is host:port, a list (`ipv4:127.0.0.1:5001,127.0.0.1:5002`) or a
 * DNS name (`dns:offload.default.svc:50051`); several addresses are balanced
 * round-robin, call by call.
 */
export function createComputeClient(target: string, options: ComputeClientOptions = {}): ComputeClient {
  const maxMessageBytes = options.maxMessageBytes ?? 64 * 1024 * 1024;
  const channel = createChannel(target, createChannelCredentials(options.tls), {
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
    ...options.channelOptions,
  });
  const token = options.token;
  // nice-grpc runs the middleware added last first: the deadline is fixed, then retried attempts each send what is left of it.
  const grpc = createClientFactory()
    .use(sendDeadline)
    .use(async function* bearer<Request, Response>(call: ClientMiddlewareCall<Request, Response>, callOptions: CallOptions) {
      if (token === undefined) return yield* call.next(call.request, callOptions);
      const metadata = Metadata(callOptions.metadata).set('authorization', `Bearer ${token}`);
      return yield* call.next(call.request, { ...callOptions, metadata });
    })
    .use(resetIsUnavailable)
    .use(retryMiddleware)
    .use(deadlineMiddleware)
    .use(fixDeadline)
    .create(ComputeServiceDefinition, channel);

  const retry = options.retry === false ? undefined : { ...DEFAULT_RETRY, ...options.retry };
  const callOptions = ({ signal, deadline }: Omit<CallOptionsIn, 'data'> = {}) => {
    const effective = deadline ?? options.deadlineMs;
    return { ...(signal ? { signal } : {}), ...(effective !== undefined ? { deadline: effective } : {}) };
  };
  const retryOptions = retry
    ? {
        retry: true,
        retryMaxAttempts: retry.maxRetries,
        retryBaseDelayMs: retry.baseDelayMs,
        retryMaxDelayMs: retry.maxDelayMs,
        retryableStatuses: retry.statuses,
      }
    : { retry: false };

  const runForResult = async <Output>(task: string, input?: Json, opts: CallOptionsIn = {}): Promise<TaskResult<Output>> => {
    try {
      const response = await grpc.run({ task, input, data: toBuffer(opts.data) }, { ...callOptions(opts), ...retryOptions });
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
        for await (const response of grpc.runStream({ task, input, data: toBuffer(opts.data) }, callOptions(opts))) {
          const event = fromStreamResponse<Output>(response);
          if (event) yield event;
        }
      } catch (error) {
        throw toOffloadError(error);
      }
    },

    async *runBatch<Output>(items: Iterable<BatchItem> | AsyncIterable<BatchItem>, opts: Omit<CallOptionsIn, 'data'> = {}) {
      async function* requests(): AsyncGenerator<RunBatchRequest> {
        for await (const item of items) yield { id: item.id, task: item.task, input: item.input, data: toBuffer(item.data), noCache: false };
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

    close: () => channel.close(),
  };
}

/** The call's deadline as an absolute time, carried from the outermost middleware to each attempt. */
interface SentDeadline {
  sentDeadline?: Date;
}

/**
 * Outermost: fixes the call's deadline in time, once for every attempt, for
 * sendDeadline below (nice-grpc's deadline middleware consumes `deadline`).
 */
const fixDeadline: ClientMiddleware<DeadlineOptions, DeadlineOptions & SentDeadline> = async function* fixDeadline(call, options) {
  const { deadline } = options;
  if (deadline == null) return yield* call.next(call.request, options);
  const at = deadline instanceof Date ? deadline : new Date(Date.now() + deadline);
  return yield* call.next(call.request, { ...options, deadline: at, sentDeadline: at });
};

/**
 * Innermost: tells the server the time left in grpc-timeout on each attempt,
 * as every gRPC client does. nice-grpc runs deadlines on the client only
 * (grpc-js sends grpc-timeout only for deadlines it is given, and nice-grpc
 * gives it none), so without this the server could not end the work at the
 * deadline, nor tell a deadline from a cancel.
 */
const sendDeadline: ClientMiddleware<SentDeadline> = async function* sendDeadline(call, options) {
  const { sentDeadline, ...rest } = options;
  if (!sentDeadline) return yield* call.next(call.request, rest);
  const metadata = Metadata(rest.metadata).set('grpc-timeout', grpcTimeout(sentDeadline.getTime() - Date.now()));
  return yield* call.next(call.request, { ...rest, metadata });
};

/**
 * A unary call whose stream was reset before its status arrived lost its
 * server mid-call, as a 502 from a proxy says (UNAVAILABLE): a proxy that had
 * already passed on the answer's headers when its replica died can only reset
 * the stream (grpc-js then says INTERNAL "Received RST_STREAM with code 2").
 * Both leave the outcome unknown, so both are UNAVAILABLE, and retried alike.
 * Streams keep INTERNAL: their earlier events were real.
 */
const resetIsUnavailable: ClientMiddleware = async function* resetIsUnavailable(call, options) {
  try {
    return yield* call.next(call.request, options);
  } catch (error) {
    if (call.responseStream || !(error instanceof ClientError) || error.code !== Status.INTERNAL || !/^Received RST_STREAM with code \d+/.test(error.details)) throw error;
    throw new ClientError(call.method.path, Status.UNAVAILABLE, `${error.details}: the server went away before it answered`);
  }
};

/** A grpc-timeout value: at most 8 digits and a unit (the gRPC HTTP/2 protocol). */
export function grpcTimeout(ms: number): string {
  const whole = Math.max(1, Math.ceil(ms));
  if (whole < 1e8) return `${whole}m`;
  const seconds = Math.ceil(whole / 1000);
  return seconds < 1e8 ? `${seconds}S` : `${Math.min(99_999_999, Math.ceil(seconds / 3600))}H`;
}

/** The generated messages type bytes as Buffer; wrap without copying. */
function toBuffer(bytes: Uint8Array | undefined): Buffer {
  return bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : Buffer.alloc(0);
}

/** ClientError keeps its status; the caller's own abort becomes CANCELLED. */
function toOffloadError(error: unknown): OffloadError {
  if (error instanceof ClientError) return new OffloadError(error.code, error.details);
  if (error instanceof Error && error.name === 'AbortError') return Errors.callCancelled;
  return OffloadError.from(error);
}
