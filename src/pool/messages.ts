/**
 * Every message that crosses the thread boundary between the loop side
 * (src/pool) and the pool side (workers/worker.ts). Both sides import these
 * types; nothing else may be posted across.
 */
import type { MessagePort } from 'node:worker_threads';

/** Runs one task: the piscina task object for a run. */
export interface RunMessage {
  kind: 'run';
  /** Absolute path of the task module. */
  file: string;
  input: unknown;
  data: Uint8Array;
  /** Whether the caller listens to progress (Run does not). */
  progress: boolean;
  /** Carries PortMessage to the loop side and ControlMessage to the worker. */
  port: MessagePort;
  /**
   * A shared Int32 flag the loop side sets to 1 to cancel. A CPU-bound task
   * never yields to receive a port message, so the worker polls this instead.
   */
  abortFlag: Int32Array;
}

/** Imports task modules and describes them: the piscina task object at start-up. */
export interface DescribeMessage {
  kind: 'describe';
  files: string[];
}

export type WorkerRequest = RunMessage | DescribeMessage;

/** What a task module turned out to be. */
export type DescribedTask =
  | { file: string; ok: true; name: string; description: string; input: Record<string, unknown>; timeoutMs: number | undefined }
  | { file: string; ok: false; error: string };

export interface TaskFailureReply {
  ok: false;
  /** A canonical status name chosen by a TaskError, or undefined for any other throw. */
  code: string | undefined;
  message: string;
  /** Full error text for the server log; never sent to the client. */
  detail: string;
  runMs: number;
}

export interface TaskSuccessReply {
  ok: true;
  output: unknown;
  data: Uint8Array | undefined;
  runMs: number;
}

export type RunReply = TaskSuccessReply | TaskFailureReply;

/** Worker to loop side, over the run's port. */
export type PortMessage =
  | { type: 'started' }
  | { type: 'progress'; fraction: number; message: string };

/** Loop side to worker, over the run's port. */
export type ControlMessage = { type: 'abort' };

/** Index of the cancel flag in RunMessage.abortFlag. */
export const ABORT_FLAG_INDEX = 0;
