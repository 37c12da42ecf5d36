/**
 * The task authoring API. A task module default-exports `defineTask({...})`;
 * offload loads it on the pool side only, so it may use any CPU it likes.
 * Nothing here knows about gRPC: failures are named by canonical status names.
 */

/** Canonical status names a task may fail with (gRPC's, without the wire). */
export type TaskErrorCode =
  | 'CANCELLED'
  | 'UNKNOWN'
  | 'INVALID_ARGUMENT'
  | 'DEADLINE_EXCEEDED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'OUT_OF_RANGE'
  | 'UNIMPLEMENTED'
  | 'INTERNAL'
  | 'UNAVAILABLE'
  | 'DATA_LOSS'
  | 'UNAUTHENTICATED';

const TASK_ERROR = Symbol.for('offload.TaskError');

/** Throw a TaskError to fail the call with a chosen code and a user-facing message. */
export class TaskError extends Error {
  override name = 'TaskError';
  readonly [TASK_ERROR] = true;
  constructor(
    readonly code: TaskErrorCode,
    message: string,
  ) {
    super(message);
  }

  /**
   * Whether a value is a TaskError, even one from another copy of this module
   * (a task may import offload/task from its own node_modules).
   */
  static is(value: unknown): value is TaskError {
    return typeof value === 'object' && value !== null && (value as { [TASK_ERROR]?: unknown })[TASK_ERROR] === true;
  }
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface TaskContext {
  /** The request's `data` bytes (empty when the caller sent none). */
  readonly data: Uint8Array;
  /**
   * Reports progress: `fraction` in [0, 1] (clamped, and never allowed to go
   * backwards), with an optional short message. Cheap enough to call often:
   * reports are coalesced before they cross to the server.
   */
  progress(this: void, fraction: number, message?: string): void;
  /**
   * Aborted when the caller cancels, the deadline passes or the server shuts
   * down. Reading `signal.aborted` also notices a cancel that arrived while
   * the task kept the thread busy, so a CPU-bound loop can simply check it.
   */
  readonly signal: AbortSignal;
  /**
   * The run's span while the server traces the call (`--otel`, see the
   * README's Traces): attributes and events added here appear on its
   * `run TASK` span, and spans the task makes itself with
   * `@opentelemetry/api` nest under it. Otherwise a span that keeps nothing,
   * so a task can call it either way. offload always sets it; it is optional
   * so that a context made by hand (a task's unit test) needs none.
   */
  readonly span?: TaskSpan;
}

/** What a task may do with its run's span (the rest of it, such as ending it, is offload's). */
export interface TaskSpan {
  setAttribute(key: string, value: SpanValue): void;
  setAttributes(attributes: Readonly<Record<string, SpanValue>>): void;
  addEvent(name: string, attributes?: Readonly<Record<string, SpanValue>>): void;
  /** False when nothing is kept: tracing is off, or the call's trace was not sampled. */
  isRecording(): boolean;
}

export type SpanValue = string | number | boolean | readonly string[] | readonly number[] | readonly boolean[];

/** A task returns a JSON value, or `{ output, data }` to return bytes as well. */
export type TaskReturn = Json | { output?: Json; data: Uint8Array } | undefined;

// The `any` defaults are offload/task's public API: a task that names no input
// type (defineTask({ run: (input) => ... })) gets what its JSON Schema admitted,
// which TypeScript cannot see. `unknown` would stop such tasks compiling; the
// README and `offload init` name an input type, which is the typed way.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
export interface TaskDefinition<Input = any> {
  /** The name callers use; letters, digits, `_`, `-` and `.`. */
  readonly name: string;
  /** What the task does, shown by ListTasks. */
  readonly description: string;
  /** JSON Schema for the input; validated on the server before the task is queued. */
  readonly input: Record<string, unknown>;
  /** Longest this task may run, in ms; the server's --max-run-ms caps it. Beyond it the call fails with DEADLINE_EXCEEDED. */
  readonly timeoutMs?: number;
  /**
   * The output depends only on the input and data (no clock, no randomness,
   * nothing read from outside): identical requests may then share one run,
   * and a result may be answered again from the server's cache. Default false.
   */
  readonly cache?: boolean;
  /** Changing it invalidates this task's cached results (say, when its code changes what it returns). */
  readonly version?: string;
  readonly run: (input: Input, ctx: TaskContext) => TaskReturn | Promise<TaskReturn>;
}

/** Declares a task; it only gives the definition its type. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the same default as TaskDefinition's
export function defineTask<Input = any>(definition: TaskDefinition<Input>): TaskDefinition<Input> {
  return definition;
}
