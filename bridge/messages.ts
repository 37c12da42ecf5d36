/**
 * Every message that crosses the thread boundary between the loop side
 * (src/pool) and the pool side (workers/worker.ts), typed in one place; the
 * shared slots are in ./slots.ts.
 *
 * Per run there is no channel to set up: the run goes out as a piscina task
 * (WorkerRequest) and its reply comes back as piscina's result (WorkerReply).
 * Events travel on long-lived paths: a worker posts a WorkerMessage on its
 * parentPort (piscina re-emits it as the pool's 'message' event); the loop
 * side cancels through the shared slots and, to wake a task that is waiting
 * rather than computing, a ControlMessage on the control channel.
 *
 * Every message says what it is in one field, `offload`: the same name in
 * each direction, so no message needs a second field to be told apart, and
 * a task's own parentPort.postMessage (which has no such field) is ignored.
 */
import type { SharedSlots } from './slots.js';

/**
 * The W3C trace context (`traceparent`, maybe `tracestate`) of the span a run
 * belongs under, as OpenTelemetry's propagator writes it: the worker's run
 * span is its child. Present only with tracing on.
 */
export type TraceCarrier = Readonly<Record<string, string>>;

/** Name of the BroadcastChannel on which the loop side asks workers to abort. */
export const CONTROL_CHANNEL = 'offload.control';

/** What workers/boot.mjs prepares before it imports the real entry; empty when workers start from the entry itself. */
export interface WorkerBoot {
  /** The real entry to import (a file URL). */
  entry?: string;
  /** Register tsx: some module the workers import is TypeScript. */
  typescript?: boolean;
  /** Specifiers ('offload', 'offload/task') that task modules resolve to these files. */
  offloadModules?: Record<string, string>;
}

export interface WorkerData extends WorkerBoot {
  slots: SharedSlots;
  /**
   * Every task module. The workers that start with the pool import them all
   * before they say they are ready, so no call waits for a first import; a
   * worker that replaces a lost one (`poolUp[0]` is 1 by then) starts at once
   * and imports a task when it first runs it, so calls do not wait for it.
   */
  taskFiles: string[];
  poolUp: Int32Array;
  /** Start OpenTelemetry in the worker: each run gets a span (workers/run-tracing.ts). */
  tracing: boolean;
}

/** Runs one task: the piscina task object for a run. */
export interface RunMessage {
  offload: 'run';
  /** Unique per run, for events and abort messages. */
  id: number;
  slot: number;
  /** Absolute path of the task module. */
  file: string;
  input: unknown;
  /** Transferred, not copied; undefined when the request had none. */
  data: Uint8Array | undefined;
  /** Whether the caller listens to started and progress events (Run does not). */
  progress: boolean;
  /** The call that asked for the run and its batch item, echoed in the task's output lines. */
  call: number | undefined;
  item: string | undefined;
  trace: TraceCarrier | undefined;
}

/**
 * Several runs in one piscina task: short runs waiting in the queue cross
 * the boundary together, so the hop is paid once for all of them. The
 * worker runs them one after another and answers with one RanReply.
 */
export interface RunsMessage {
  offload: 'runs';
  runs: RunMessage[];
}

/** Imports task modules and describes them: the piscina task object at start-up. */
export interface DescribeMessage {
  offload: 'describe';
  files: string[];
}

export type WorkerRequest = RunMessage | RunsMessage | DescribeMessage;

/** What a task module turned out to be. */
export type DescribedTask =
  | { file: string; ok: true; name: string; description: string; input: Record<string, unknown>; timeoutMs: number | undefined; cache: boolean; version: string }
  | { file: string; ok: false; error: string };

export interface ProgressReport {
  fraction: number;
  message: string;
}

interface ReplyTiming {
  /** When the task began, in ms since the epoch (with fractions). */
  startedAt: number;
  runMs: number;
  /** The latest progress, which may not have been posted yet: events and replies travel apart. */
  lastProgress: ProgressReport | undefined;
}

export interface TaskFailureReply extends ReplyTiming {
  offload: 'failed';
  /** A canonical status name chosen by a TaskError, or undefined for any other throw. */
  code: string | undefined;
  message: string;
  /** Full error text for the server log; never sent to the client. */
  detail: string;
}

export interface TaskSuccessReply extends ReplyTiming {
  offload: 'succeeded';
  output: unknown;
  data: Uint8Array | undefined;
  /** About how many bytes the output takes on the wire. */
  outputBytes: number;
}

/** The loop side took the task back before it started (cancelled or revoked); it never ran. */
export interface SkippedReply {
  offload: 'skipped';
}

export type RunReply = TaskSuccessReply | TaskFailureReply;

/** The reply to a RunsMessage: one reply per run, in the order of its runs. */
export interface RanReply {
  offload: 'ran';
  replies: (RunReply | SkippedReply)[];
}

/** The reply to a DescribeMessage. */
export interface DescribeReply {
  offload: 'described';
  tasks: DescribedTask[];
}

/** What piscina resolves a WorkerRequest with. */
export type WorkerReply = RunReply | SkippedReply | RanReply | DescribeReply;

/** Worker to loop side, on the worker's parentPort; only for runs with `progress`, and Started only for runs sent alone (a run in a RunsMessage is expected to end before it would matter: its reply says when it started). */
export type TaskEventMessage = { offload: 'started'; id: number } | { offload: 'progress'; id: number; fraction: number; message: string };

/** A task module threw outside any run: a timer or promise left behind after its task returned. */
export type StrayErrorMessage = { offload: 'stray-error'; detail: string };

/** Lines a task may print per second on one worker; beyond it they are counted and dropped. */
export const OUTPUT_LINES_PER_SECOND = 100;

/**
 * A line a task printed (console.*, process.stdout/stderr), or how many lines
 * it printed beyond the rate limit. It names the run's task and caller itself:
 * it may arrive after the run's reply, which travels on another port. `task`
 * is unset for output while task modules load.
 */
export type TaskOutputMessage = {
  offload: 'output';
  task: string | undefined;
  call: number | undefined;
  item: string | undefined;
  stream: 'stdout' | 'stderr';
} & (
  | { line: string }
  | { dropped: number }
);

/** A worker has loaded its entry and the task modules: it runs a task the moment it gets one. */
export type WorkerReadyMessage = { offload: 'ready'; thread: number };

/** A worker has sent the spans it held, as asked by a flush-traces message. */
export type TracesFlushedMessage = { offload: 'traces-flushed'; thread: number };

export type WorkerMessage = TaskEventMessage | StrayErrorMessage | TaskOutputMessage | WorkerReadyMessage | TracesFlushedMessage;

/** Loop side to workers, on CONTROL_CHANNEL: abort a run; send the spans held (before the pool closes). */
export type ControlMessage = { offload: 'abort'; id: number } | { offload: 'flush-traces' };
