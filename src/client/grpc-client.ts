/**
 * One channel and its middleware: deadlines that really apply and reach the
 * server, bearer tokens and the tenant, retries of unary calls. The client opens one for its
 * target and, for job calls over several replicas, one per replica.
 */
import type { ChannelOptions } from '@grpc/grpc-js';
import { ClientError, createChannel, createClientFactory, Metadata, type CallOptions, type Channel, type Client, type ClientMiddleware, type ClientMiddlewareCall } from 'nice-grpc';
import { deadlineMiddleware, type DeadlineOptions } from 'nice-grpc-client-middleware-deadline';
import { retryMiddleware, type RetryOptions as RetryCallOptions } from 'nice-grpc-client-middleware-retry';
import { Status } from '../errors.js';
import { ComputeServiceDefinition } from '../gen/offload/v1/compute.js';
import { TENANT_METADATA } from '../tenant-name.js';
import { createChannelCredentials, type TlsOptions } from './channel-credentials.js';
import { traceCalls } from './trace-calls.js';

export type GrpcClient = Client<ComputeServiceDefinition, DeadlineOptions & RetryCallOptions>;

export interface GrpcClientOptions {
  tls?: boolean | TlsOptions | undefined;
  token?: string | undefined;
  tenant?: string | undefined;
  maxMessageBytes?: number | undefined;
  channelOptions?: ChannelOptions | undefined;
}

export interface OpenedClient {
  grpc: GrpcClient;
  channel: Channel;
}

export function openGrpcClient(target: string, options: GrpcClientOptions, extraChannelOptions: ChannelOptions = {}): OpenedClient {
  const maxMessageBytes = options.maxMessageBytes ?? 64 * 1024 * 1024;
  const channel = createChannel(target, createChannelCredentials(options.tls), {
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
    // grpc-js keeps a call's sent messages for a transparent retry until they pass this size, and
    // does work that grows with what it keeps on every write: at the 256 KiB default, one RunBatch of
    // 30 000 small items cost this client 441 µs of CPU per item. Small calls keep their transparent
    // retry (a call refused during a drain); the retry middleware covers the rest.
    'grpc.per_rpc_retry_buffer_size': 16 * 1024,
    ...extraChannelOptions,
    ...options.channelOptions,
  });
  const { token, tenant } = options;
  // nice-grpc runs the middleware added last first: the deadline is fixed, then retried attempts each send what is left of it.
  const grpc = createClientFactory()
    .use(sendDeadline)
    .use(async function* identify<Request, Response>(call: ClientMiddlewareCall<Request, Response>, callOptions: CallOptions) {
      if (token === undefined && tenant === undefined) return yield* call.next(call.request, callOptions);
      const metadata = Metadata(callOptions.metadata);
      if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
      if (tenant !== undefined) metadata.set(TENANT_METADATA, tenant);
      return yield* call.next(call.request, { ...callOptions, metadata });
    })
    .use(resetIsUnavailable)
    .use(retryMiddleware)
    .use(deadlineMiddleware)
    .use(fixDeadline)
    .use(traceCalls)
    .create(ComputeServiceDefinition, channel);
  return { grpc, channel };
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
    if (call.responseStream || !(error instanceof ClientError) || !isResetStream(error.code, error.details)) throw error;
    throw new ClientError(call.method.path, Status.UNAVAILABLE, `${error.details}: the server went away before it answered`);
  }
};

/** grpc-js's words for a stream its server (or a proxy) reset. */
export function isResetStream(code: Status, message: string): boolean {
  return code === Status.INTERNAL && /^Received RST_STREAM with code \d+/.test(message);
}

/** A grpc-timeout value: at most 8 digits and a unit (the gRPC HTTP/2 protocol). */
export function grpcTimeout(ms: number): string {
  const whole = Math.max(1, Math.ceil(ms));
  if (whole < 1e8) return `${whole}m`;
  const seconds = Math.ceil(whole / 1000);
  return seconds < 1e8 ? `${seconds}S` : `${Math.min(99_999_999, Math.ceil(seconds / 3600))}H`;
}
