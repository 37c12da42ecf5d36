/**
 * The pool side of the bridge: piscina's entry in every worker thread. It
 * runs one task per call (or several short ones sent together) and always resolves with a typed reply, so a task's
 * failure crosses back as data and piscina only rejects when a worker dies.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import {
  CONTROL_CHANNEL,
  type ControlMessage,
  type DescribeMessage,
  type DescribeReply,
  type RanReply,
  type RunMessage,
  type RunReply,
  type RunsMessage,
  type SkippedReply,
  type StrayErrorMessage,
  type TaskEventMessage,
  type TracesFlushedMessage,
  type WorkerData,
  type WorkerReadyMessage,
  type WorkerReply,
  type WorkerRequest,
} from '../bridge/messages.js';
import { claimSlot, finishSlot, isCancelled } from '../bridge/slots.js';
import { createCancelSignal } from './cancel-signal.js';
import { checkOutput } from './check-output.js';
import { loadTask } from './load-task.js';
import { createProgressReporter } from './progress-reporter.js';
import type { RunSpan, RunTracing } from './run-tracing.js';
import { TaskError, type TaskSpan } from './task.js';
import { captureTaskOutput } from './task-output.js';

const { slots, taskFiles, poolUp, tracing } = workerData as WorkerData;

/** With tracing on, each run that brings a trace context gets a span made here; off, the SDK is never imported. */
const runTracing: RunTracing | undefined = tracing ? await (await import('./run-tracing.js')).startRunTracing() : undefined;

/** The run on this worker now, so an abort message can reach a task that is waiting. */
let current: { id: number; abort: () => void } | undefined;
const control = new BroadcastChannel(CONTROL_CHANNEL);
control.onmessage = (event) => {
  const message = (event as { data: ControlMessage }).data;
  const running = current;
  if (message.offload === 'abort' && running?.id === message.id) running.abort();
  // The pool is closing: send the spans this worker holds before it is terminated.
  if (message.offload === 'flush-traces' && runTracing) {
    void runTracing
      .flush()
      .catch(() => {})
      .then(() => parentPort!.postMessage({ offload: 'traces-flushed', thread: threadId } satisfies TracesFlushedMessage));
  }
};
// The channel must not keep an idle worker alive.
(control as unknown as { unref(): void }).unref();

// A timer or promise a task left behind may throw after its run has ended.
// It is not the next run's fault, and it must not kill the worker under it:
// report it to the server log and carry on.
const reportStray = (error: unknown): void =>
  parentPort!.postMessage({
    offload: 'stray-error',
    detail: error instanceof Error ? (error.stack ?? error.message) : String(error),
  } satisfies StrayErrorMessage);
process.on('uncaughtException', reportStray);
process.on('unhandledRejection', reportStray);

const taskOutput = captureTaskOutput((message) => parentPort!.postMessage(message));

// While the pool starts, import every task module before saying ready
// (top-level await: piscina hands this worker no task before it is done). A
// module that fails to load fails here silently: describing the tasks reports
// it, and runs report it again.
if (Atomics.load(poolUp, 0) === 0) await Promise.all(taskFiles.map((file) => loadTask(file).catch(() => undefined)));
parentPort!.postMessage({ offload: 'ready', thread: threadId } satisfies WorkerReadyMessage);

/** The last run handed to this worker, while it has not settled. */
let tail: Promise<unknown> | undefined;

/**
 * The pool hands a worker its next run while the current one is still going
 * (so the worker never idles waiting for the loop side), but runs here never
 * overlap: each starts when the one before it has settled, and a turn of the
 * event loop later, so piscina has posted the earlier reply first.
 */
export default function handle(request: WorkerRequest): Promise<WorkerReply> {
  if (request.offload === 'describe') return describeTasks(request);
  const run = (): Promise<WorkerReply> => (request.offload === 'runs' ? runTasks(request) : runTask(request, true));
  const before = tail;
  const reply = before ? before.then(() => nextTurn()).then(run) : run();
  const settled = reply.then(
    () => undefined,
    () => undefined,
  );
  tail = settled;
  void settled.then(() => {
    if (tail === settled) tail = undefined;
  });
  return reply;
}

function post(message: TaskEventMessage): void {
  parentPort!.postMessage(message);
}

/** Runs sent together, one after another; each reply is held (its slot says DONE) until the last has run. */
async function runTasks({ runs }: RunsMessage): Promise<RanReply> {
  const replies: RanReply['replies'] = [];
  for (const run of runs) {
    replies.push(await runTask(run, false));
    finishSlot(slots, run.slot);
  }
  return { offload: 'ran', replies };
}

/** @param announce post Started at once (a run sent alone); a run sent with others says when it started in its reply. */
async function runTask({ id, slot, file, input, data, progress, call, item, trace }: RunMessage, announce: boolean): Promise<RunReply | SkippedReply> {
  // The loop side may have taken the run back (cancelled, or moved to an idle worker).
  if (!claimSlot(slots, slot, threadId)) return { offload: 'skipped' };
  const startedAtMs = performance.timeOrigin + performance.now();
  // Made when the task first reads ctx.signal: most short tasks never do, and making one costs as much as an echo run.
  let cancel: ReturnType<typeof createCancelSignal> | undefined;
  const signal = (): AbortSignal => (cancel ??= createCancelSignal(slots.state, slot)).signal;
  current = { id, abort: () => cancel?.abort() };
  if (progress && announce) post({ offload: 'started', id });
  const reporter = createProgressReporter(progress ? (report) => post({ offload: 'progress', id, ...report }) : undefined);
  let span: RunSpan | undefined;
  const timing = () => ({ startedAt: startedAtMs, runMs: performance.timeOrigin + performance.now() - startedAtMs, lastProgress: reporter.latest() });
  try {
    const task = await loadTask(file);
    taskOutput.setRun({ task: task.name, call, item });
    span = trace && runTracing?.start(task.name, trace);
    reporter.observe(span);
    const context = {
      data: data ?? new Uint8Array(0),
      get signal() {
        return signal();
      },
      progress: reporter.progress,
      span: span?.taskSpan ?? UNTRACED,
    };
    const returned = await (span ? runWithin(span, task, input, context) : task.run(input, context));
    const { output, data: bytes } = splitReturn(returned);
    const { bytes: outputBytes } = checkOutput(output);
    span?.succeeded();
    return { offload: 'succeeded', output, data: bytes, outputBytes, ...timing() };
  } catch (error) {
    const failure = {
      offload: 'failed' as const,
      // The slot says so before any message does: the loop side marks it, then posts the abort.
      code: TaskError.is(error) ? error.code : isCancelled(slots.state, slot) ? 'CANCELLED' : undefined,
      message: error instanceof Error ? error.message : String(error),
      detail: error instanceof Error ? (error.stack ?? error.message) : String(error),
      ...timing(),
    };
    span?.failed(failure.code, failure.message);
    return failure;
  } finally {
    current = undefined;
    taskOutput.flush();
    taskOutput.setRun(undefined);
  }
}

/** Runs the task with its span active; apart from runTask, so runTask itself makes no closure per run. */
function runWithin(span: RunSpan, task: Awaited<ReturnType<typeof loadTask>>, input: unknown, context: Parameters<Awaited<ReturnType<typeof loadTask>>['run']>[1]) {
  return span.within(() => task.run(input, context));
}

/** `ctx.span` of a run that is not traced: keeps nothing. */
const UNTRACED: TaskSpan = Object.freeze({
  setAttribute: () => {},
  setAttributes: () => {},
  addEvent: () => {},
  isRecording: () => false,
});

function splitReturn(returned: unknown): { output: unknown; data: Uint8Array | undefined } {
  if (typeof returned === 'object' && returned !== null && !Array.isArray(returned)) {
    const record = returned as Record<string, unknown>;
    if (record['data'] instanceof Uint8Array && Object.keys(record).every((k) => k === 'output' || k === 'data')) {
      return { output: record['output'], data: record['data'] };
    }
  }
  return { output: returned, data: undefined };
}

async function describeTasks({ files }: DescribeMessage): Promise<DescribeReply> {
  const described: DescribeReply['tasks'] = [];
  for (const file of files) {
    try {
      const task = await loadTask(file);
      // A JSON copy: schema libraries may hang functions on their schemas.
      const input = JSON.parse(JSON.stringify(task.input)) as Record<string, unknown>;
      described.push({ file, ok: true, name: task.name, description: task.description, input, timeoutMs: task.timeoutMs, cache: task.cache ?? false, version: task.version ?? '' });
    } catch (error) {
      described.push({ file, ok: false, error: error instanceof Error ? error.message : String(error) });
    }
  }
  return { offload: 'described', tasks: described };
}
