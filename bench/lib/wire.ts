/**
 * The offload.v1 wire as a plain JavaScript user sees it: stubs built at run
 * time by @grpc/proto-loader from proto/offload/v1/compute.proto, and
 * google.protobuf.Value in proto-loader's object form. Shared by the load
 * generator, the contract check and the inline peer; nothing from src/.
 */
import { loadPackageDefinition } from '@grpc/grpc-js';
import type { ChannelOptions, GrpcObject, ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoDir } from './paths.js';

export const protoFile = 'offload/v1/compute.proto';

/** Largest message either side sends or accepts: offload's default, so the 8 MiB payload fits everywhere. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export const channelOptions: ChannelOptions = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  // Every client gets its own connection: scenarios and probes never share one by accident.
  'grpc.use_local_subchannel_pool': 1,
  // grpc-js's retry buffer (RetryingCall.clearSentMessages) does work that grows with the stream
  // on every write of a client stream, so a long RunBatch cost the load generator more than the
  // server; the scenarios never retry.
  'grpc.enable_retries': 0,
};

export interface ComputePackage {
  ComputeService: ServiceClientConstructor;
}

let cached: ComputePackage | undefined;

/** offload.v1 as proto-loader builds it (camelCase fields, oneofs named by their field). */
export function loadComputePackage(): ComputePackage {
  if (!cached) {
    const definition = loadSync(protoFile, { includeDirs: [protoDir], keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
    const root = loadPackageDefinition(definition);
    cached = (root['offload'] as GrpcObject)['v1'] as unknown as ComputePackage;
  }
  return cached;
}

// ---- google.protobuf.Value ---------------------------------------------------

export interface WireValue {
  kind?: string;
  nullValue?: string | number;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: WireStruct;
  listValue?: { values?: WireValue[] };
}
export interface WireStruct {
  fields?: Record<string, WireValue>;
}

export function toValue(value: unknown): WireValue {
  if (value === null || value === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof value === 'number') return { numberValue: value };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(toValue) } };
  return { structValue: toStruct(value as Record<string, unknown>) };
}

export function toStruct(record: Record<string, unknown>): WireStruct {
  return { fields: Object.fromEntries(Object.entries(record).map(([k, v]) => [k, toValue(v)])) };
}

export function fromStruct(struct: WireStruct | undefined | null): Record<string, unknown> {
  return Object.fromEntries(Object.entries(struct?.fields ?? {}).map(([k, v]) => [k, fromValue(v)]));
}

export function fromValue(value: WireValue | undefined | null): unknown {
  switch (value?.kind) {
    case 'numberValue': return value.numberValue;
    case 'stringValue': return value.stringValue;
    case 'boolValue': return value.boolValue;
    case 'structValue': return fromStruct(value.structValue);
    case 'listValue': return (value.listValue?.values ?? []).map(fromValue);
    default: return null;
  }
}

// ---- Message shapes (proto-loader object form) --------------------------------

export interface WireTaskResult {
  output?: WireValue | null;
  data?: Buffer | Uint8Array;
  queuedMs?: number;
  runMs?: number;
  /** offload only (issue 14); false from the peers, whose messages never set it. */
  cached?: boolean;
}
export interface WireStreamEvent {
  id?: string;
  event?: 'started' | 'progress' | 'result' | 'failure';
  started?: { queuedMs: number } | null;
  progress?: { fraction: number; message: string } | null;
  result?: WireTaskResult | null;
  failure?: { code: number; message: string } | null;
}
export interface WireTaskInfo {
  name: string;
  description: string;
  inputSchema?: WireStruct | null;
}
export interface WireRunRequest {
  id?: string;
  task: string;
  input?: WireValue;
  data?: Uint8Array;
}
