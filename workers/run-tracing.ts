/**
 * OpenTelemetry in a worker thread, started when the server traces
 * (workerData.tracing). Each worker runs its own SDK, configured by the same
 * OTEL_* variables as the server's, so a run's span is made where the run
 * is: a `run TASK` span, a child of the call's span (the trace context crosses
 * in the run message), with the worker's thread id, progress events and the
 * outcome. With tracing off this module is never imported.
 */
import { threadId } from 'node:worker_threads';
import type { Context, Span, Tracer } from '@opentelemetry/api';
import type { TraceCarrier } from '../bridge/messages.js';
import { startOtelSdk } from '../bridge/start-otel-sdk.js';
import type { TaskSpan } from './task.js';

/** At most one progress event per this many ms: a task may report thousands of times a second. */
const PROGRESS_EVERY_MS = 100;

/** The longest progress message kept on an event. */
const MESSAGE_CHARS = 256;

export interface RunSpan {
  /** What the task sees as `ctx.span`. */
  readonly taskSpan: TaskSpan;
  /** Calls `fn` with the run's span active, so spans a task makes itself nest under it. */
  within<T>(fn: () => T): T;
  progress(fraction: number, message: string): void;
  succeeded(): void;
  /** `code`: the status a TaskError chose, CANCELLED, or undefined for any other throw. */
  failed(code: string | undefined, message: string): void;
}

export interface RunTracing {
  start(task: string, trace: TraceCarrier): RunSpan;
  /** Sends the spans this worker holds. */
  flush(): Promise<void>;
}

type Api = typeof import('@opentelemetry/api');

export async function startRunTracing(): Promise<RunTracing> {
  const { api, tracer, flush } = await startOtelSdk();
  return { start: (task, trace) => new WorkerRunSpan(api, tracer, task, trace), flush };
}

class WorkerRunSpan implements RunSpan {
  readonly #span: Span;
  readonly #context: Context;
  #lastEventAt = -Infinity;
  #taskSpan: TaskSpan | undefined;

  constructor(
    readonly api: Api,
    tracer: Tracer,
    task: string,
    trace: TraceCarrier,
  ) {
    const parent = api.propagation.extract(api.ROOT_CONTEXT, trace);
    // thread.id: OpenTelemetry's attribute for the thread a span ran on; a worker's is never the main thread's 0.
    this.#span = tracer.startSpan(`run ${task}`, { kind: api.SpanKind.INTERNAL, attributes: { 'thread.id': threadId, 'offload.task': task } }, parent);
    this.#context = api.trace.setSpan(parent, this.#span);
  }

  get taskSpan(): TaskSpan {
    const span = this.#span;
    return (this.#taskSpan ??= {
      setAttribute: (key, value) => void span.setAttribute(key, value as never),
      setAttributes: (attributes) => void span.setAttributes(attributes as never),
      addEvent: (name, attributes) => void span.addEvent(name, attributes as never),
      isRecording: () => span.isRecording(),
    });
  }

  within<T>(fn: () => T): T {
    return this.api.context.with(this.#context, fn);
  }

  progress(fraction: number, message: string): void {
    const now = performance.now();
    if (now - this.#lastEventAt < PROGRESS_EVERY_MS) return;
    this.#lastEventAt = now;
    this.#span.addEvent('progress', { 'offload.progress.fraction': fraction, 'offload.progress.message': message.slice(0, MESSAGE_CHARS) });
  }

  succeeded(): void {
    this.#span.setAttribute('offload.outcome', 'succeeded');
    this.#span.end();
  }

  failed(code: string | undefined, message: string): void {
    const cancelled = code === 'CANCELLED';
    this.#span.setAttributes({ 'offload.outcome': cancelled ? 'cancelled' : 'failed', 'offload.code': code ?? 'INTERNAL' });
    // A run stopped because its caller left did not fail; any other end but success did.
    if (!cancelled) this.#span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: message.slice(0, 1024) });
    this.#span.end();
  }
}
