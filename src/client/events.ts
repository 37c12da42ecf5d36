/**
 * The client's view of the wire: plain typed events instead of proto oneofs.
 */
import type { Status } from '../errors.js';
import { Priority as WirePriority, type RunBatchResponse, type RunStreamResponse, type TaskResult as WireResult } from '../gen/offload/v1/compute.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface TaskResult<Output = Json> {
  output: Output;
  /** Bytes the task returned; empty when it returned none. */
  data: Uint8Array;
  queuedMs: number;
  runMs: number;
  /** Not computed for this call: answered from the server's cache or by an identical call's run (cacheable tasks). */
  cached: boolean;
}

export type RunEvent<Output = Json> =
  | { type: 'started'; queuedMs: number }
  | { type: 'progress'; fraction: number; message: string }
  | ({ type: 'result' } & TaskResult<Output>);

export type BatchEvent<Output = Json> =
  | ({ id: string } & RunEvent<Output>)
  | { id: string; type: 'failure'; code: Status; message: string };

export interface BatchItem {
  /** Your name for the item; every event about it carries it back. */
  id: string;
  task: string;
  input?: Json;
  data?: Uint8Array;
  /** Compute afresh, even for a cacheable task. */
  noCache?: boolean;
  priority?: RunPriority;
}

/** Which queued runs start first on the server: high, then normal (the default), then low. */
export type RunPriority = 'low' | 'normal' | 'high';

/** The wire's Priority enum value. */
export function toWirePriority(priority: RunPriority | undefined): WirePriority {
  return priority === 'low' ? WirePriority.PRIORITY_LOW : priority === 'high' ? WirePriority.PRIORITY_HIGH : WirePriority.PRIORITY_NORMAL;
}

export interface TaskInfo {
  name: string;
  description: string;
  /** The JSON Schema the task's input must satisfy. */
  inputSchema: Record<string, unknown>;
}

export function fromWireResult<Output>(result: WireResult | undefined): TaskResult<Output> {
  return {
    output: (result?.output ?? null) as Output,
    data: result?.data ?? new Uint8Array(0),
    queuedMs: result?.queuedMs ?? 0,
    runMs: result?.runMs ?? 0,
    cached: result?.cached ?? false,
  };
}

export function fromStreamResponse<Output>(response: RunStreamResponse): RunEvent<Output> | undefined {
  if (response.started) return { type: 'started', queuedMs: response.started.queuedMs };
  if (response.progress) return { type: 'progress', fraction: response.progress.fraction, message: response.progress.message };
  if (response.result) return { type: 'result', ...fromWireResult<Output>(response.result) };
  return undefined;
}

export function fromBatchResponse<Output>(response: RunBatchResponse): BatchEvent<Output> | undefined {
  const { id } = response;
  if (response.failure) return { id, type: 'failure', code: response.failure.code as Status, message: response.failure.message };
  const event = fromStreamResponse<Output>(response);
  return event && { id, ...event };
}

/** The generated messages type bytes as Buffer; wrap without copying. */
export function toBuffer(bytes: Uint8Array | undefined): Buffer {
  return bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : Buffer.alloc(0);
}
