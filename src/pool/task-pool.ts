/**
 * The loop side of the bridge. It admits a task (or refuses it at once when
 * the queue is full), hands it to piscina, and turns the worker's events and
 * piscina's promise (the bridged future) into a TaskRun. It never computes:
 * everything CPU-heavy happens in workers/.
 */
import { performance } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { CALL_CANCELLED, OffloadError, SHUTTING_DOWN, Status, statusFromName } from '../errors.js';
import {
  CONTROL_CHANNEL,
  type ControlMessage,
  type DescribedTask,
  type RunMessage,
  type RunReply,
  type SkippedReply,
  type TaskEventMessage,
  type TaskOutputMessage,
  type WorkerMessage,
  type WorkerData,
  type WorkerReply,
  type WorkerRequest,
} from '../../bridge/messages.js';
import { SlotState, SlotTable } from '../../bridge/slots.js';
import { CrashBreaker } from './crash-breaker.js';
import { TaskRun } from './task-run.js';
import { workerModule } from './worker-entry.js';

export interface TaskPoolOptions {
  workers: number;
  maxQueue: number;
  cancelGraceMs: number;
  /** Longest a task may wait for a worker before it fails with RESOURCE_EXHAUSTED; 0: no limit. */
  maxQueueMs?: number;
  /** Heap limit per worker in MB; 0 or undefined: V8's default. */
  workerMaxMemoryMb?: number;
  /** Nice increment for worker threads (Linux): the event loop keeps priority over computing. */
  workerNice?: number;
  /** Worker crashes in a row after which a task is suspended; 0 or undefined: never. */
  crashLimit?: number;
  /** How long a suspended task is refused. */
  crashCooldownMs?: number;
  /** Every task module the workers may import (decides whether they need a TS loader). */
  taskFiles: readonly string[];
  /** Told about every run that ends, for metrics. */
  onSettled?: (settled: SettledRun) => void;
  /** Told when a worker died or was terminated and piscina replaced it. */
  onWorkerRestart?: () => void;
  /** Told when a task module threw outside any run (a timer firing after its task returned). */
  onStrayError?: (detail: string) => void;
  /** Told of each line a task printed, and of lines dropped beyond the rate limit. */
  onTaskOutput?: (output: TaskOutputMessage) => void;
  /** Results larger than this fail with RESOURCE_EXHAUSTED instead of failing the call on the wire. */
  maxResultBytes?: number;
}

export interface SettledRun {
  task: string;
  code: Status;
  /** undefined when the task never left the queue. */
  queuedMs: number | undefined;
  runMs: number | undefined;
}

export interface RunOptions {
  /** Aborting cancels the run; an OffloadError reason becomes the run's error. */
  signal?: AbortSignal;
  /** Why the run ends when `signal` aborts with no OffloadError reason (a call's deadline or its client's cancel); asked only then. */
  abortReason?: () => OffloadError;
  /** The call that asked for the run, and its batch item: named in the log lines of the task's output. */
  call?: number;
  item?: string;
  /** Whether to carry started and progress events across threads (a unary Run does not need them). */
  progress?: boolean;
  /** Longest the task may run once started; 0 or undefined: no limit. */
  runLimitMs?: number;
  /**
   * The caller never reads `data` again, nor anything else in its backing
   * buffer: when the bytes fill most of that buffer (a large request's bytes
   * field), the buffer moves to the worker instead of being copied.
   */
  handOverData?: boolean;
}

export interface PoolStats {
  running: number;
  queued: number;
}

/** How often limits (queue wait, run time) are checked: one timer for every run. */
const SWEEP_MS = 20;
/**
 * Runs a worker holds at most: the one it runs and the next, so it starts the
 * next the moment it finishes instead of idling while the loop side answers
 * the call and posts another.
 */
const PER_WORKER = 2;
/** A run sent ahead to a busy worker moves to an idle one after waiting this long. */
const STEAL_AFTER_MS = 20;
/**
 * Input bytes beyond this are not sent ahead to a busy worker: moving the run
 * again would mean copying them again. Such runs wait for an idle worker.
 */
const SEND_AHEAD_MAX_BYTES = 64 * 1024;
/** Times a run that never started is put back in the queue after its worker died, before it fails. */
const MAX_REQUEUES = 3;

interface InFlight {
  readonly id: number;
  readonly task: string;
  readonly file: string;
  readonly input: unknown;
  /** The request's bytes as decoded; a send copies them and transfers the copy, or hands the buffer over. */
  readonly data: Uint8Array;
  readonly dataBytes: number;
  readonly handOverData: boolean;
  readonly progress: boolean;
  readonly run: TaskRun;
  /** ms since the epoch. */
  readonly submittedAt: number;
  readonly runLimitMs: number;
  readonly call: number | undefined;
  readonly item: string | undefined;
  /** The live hand-over to piscina; undefined while the run waits in our queue. */
  sent: Sent | undefined;
  requeues: number;
  /** Set from the started event, or read from the shared slot. */
  startedAt: number | undefined;
  lastProgress: { fraction: number; message: string } | undefined;
  cancelReason: OffloadError | undefined;
  graceTimer: NodeJS.Timeout | undefined;
  /** Removes the run's abort listeners. */
  detach?: () => void;
}

/** One hand-over of a run to piscina, holding a slot until piscina answers for it. */
interface Sent {
  readonly flight: InFlight;
  readonly slot: number;
  /** performance.now() when it was handed over. */
  readonly at: number;
  /** Whether it may wait on a busy worker (and so be moved to an idle one). */
  readonly ahead: boolean;
}

export class TaskPool {
  readonly #piscina: Piscina<WorkerRequest, WorkerReply>;
  readonly #options: TaskPoolOptions;
  readonly #capacity: number;
  readonly #breaker: CrashBreaker;
  readonly #slots: SlotTable;
  readonly #inFlight = new Map<number, InFlight>();
  /** Hand-overs piscina has not answered for, including ones taken back. */
  readonly #sent = new Set<Sent>();
  /**
   * Admitted runs waiting for a worker, oldest first. offload queues them
   * itself and hands piscina at most PER_WORKER per worker: a queued run is
   * cancelled by dropping it, and one already handed over by winning its
   * slot's state before the worker does, so piscina never has to terminate a
   * worker to pull a task back.
   */
  readonly #queue: InFlight[] = [];
  /** Live hand-overs (runs a worker has or is about to get). */
  #live = 0;
  /** performance.now() when a worker last finished a run. */
  #lastAnsweredAt = 0;
  readonly #control = new BroadcastChannel(CONTROL_CHANNEL);
  readonly #maxResultBytes: number;
  #nextId = 1;
  readonly #ready: Promise<void>;
  #onAllReady: () => void = () => {};
  /** Threads of the workers that said they were ready (thread ids are never reused). */
  #readyThreads = new Set<number>();
  /** Shared with the workers: 1 once every first worker is ready (see WorkerData.taskFiles). */
  readonly #poolUp = new Int32Array(new SharedArrayBuffer(4));
  #sweeper: NodeJS.Timeout | undefined;
  #closing = false;

  constructor(options: TaskPoolOptions) {
    this.#options = options;
    this.#capacity = options.workers + options.maxQueue;
    this.#breaker = new CrashBreaker(options.crashLimit ?? 0, options.crashCooldownMs ?? 0);
    // Live hand-overs need PER_WORKER slots per worker; the rest are for
    // hand-overs taken back whose worker has not skipped them yet.
    this.#slots = new SlotTable(options.workers * PER_WORKER * 2 + options.maxQueue);
    this.#maxResultBytes = options.maxResultBytes ?? Number.POSITIVE_INFINITY;
    const { filename, boot } = workerModule(options.taskFiles);
    this.#piscina = new Piscina({
      filename,
      workerData: { ...boot, slots: this.#slots.shared, taskFiles: [...options.taskFiles], poolUp: this.#poolUp } satisfies WorkerData,
      minThreads: options.workers,
      maxThreads: options.workers,
      concurrentTasksPerWorker: PER_WORKER,
      idleTimeout: Number.MAX_SAFE_INTEGER,
      niceIncrement: options.workerNice ?? 0,
      ...(options.workerMaxMemoryMb ? { resourceLimits: { maxOldGenerationSizeMb: options.workerMaxMemoryMb } } : {}),
    });
    this.#piscina.on('message', (message: WorkerMessage) => {
      if (message?.offload === 'started' || message?.offload === 'progress') this.#onEvent(message);
      else if (message?.offload === 'output') options.onTaskOutput?.(message);
      else if (message?.offload === 'ready') this.#onReady(message.thread);
      else if (message?.offload === 'stray-error') options.onStrayError?.(message.detail);
    });
    this.#ready = new Promise((resolve) => (this.#onAllReady = resolve));
    this.#piscina.on('workerDestroy', () => {
      // Forget stopped workers, so the set stays about as small as the pool.
      this.#readyThreads = new Set(this.#piscina.threads.map((worker) => worker.threadId).filter((thread) => this.#readyThreads.has(thread)));
      if (!this.#closing) options.onWorkerRestart?.();
    });
    (this.#control as unknown as { unref(): void }).unref();
  }

  get stats(): PoolStats {
    let running = 0;
    for (const flight of this.#inFlight.values()) if (this.#started(flight) !== undefined) running++;
    return { running, queued: this.#inFlight.size - running };
  }

  /**
   * Resolves once every worker has started and imported the task modules.
   * piscina counts its first workers as ready before they have loaded
   * anything, so the workers say it themselves.
   */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Workers that can take a run now: started, and not stopped since (a replacement counts once it has started). */
  get readyWorkers(): number {
    return this.#piscina.threads.filter((worker) => this.#readyThreads.has(worker.threadId)).length;
  }

  #onReady(thread: number): void {
    this.#readyThreads.add(thread);
    if (Atomics.load(this.#poolUp, 0) === 1 || this.readyWorkers < this.#options.workers) return;
    Atomics.store(this.#poolUp, 0, 1);
    this.#onAllReady();
  }

  /** Imports the task modules in a worker and reports what each turned out to be. */
  async describe(files: readonly string[]): Promise<DescribedTask[]> {
    const reply = await this.#piscina.run({ offload: 'describe', files: [...files] });
    if (reply.offload !== 'described') throw new Error(`a worker answered a describe request with "${reply.offload}"`);
    return reply.tasks;
  }

  /**
   * Admits and starts one run. Throws RESOURCE_EXHAUSTED at once when every
   * worker is busy and the queue is full.
   */
  run(task: { name: string; file: string }, input: unknown, data: Uint8Array, options: RunOptions = {}): TaskRun {
    this.#breaker.check(task.name);
    if (this.#inFlight.size >= this.#capacity) {
      throw new OffloadError(Status.RESOURCE_EXHAUSTED, `the task queue is full (${this.stats.queued} waiting); retry later`);
    }
    const { signal, abortReason, progress = true, runLimitMs = 0, handOverData = false, call, item } = options;
    if (signal?.aborted) throw abortError(signal, abortReason);

    const id = this.#nextId++;
    const flight: InFlight = {
      id,
      task: task.name,
      file: task.file,
      input,
      data,
      dataBytes: data.byteLength,
      handOverData,
      progress,
      run: new TaskRun((reason) => this.#cancel(flight, reason)),
      submittedAt: performance.timeOrigin + performance.now(),
      runLimitMs,
      call,
      item,
      sent: undefined,
      requeues: 0,
      startedAt: undefined,
      lastProgress: undefined,
      cancelReason: undefined,
      graceTimer: undefined,
    };
    this.#inFlight.set(id, flight);
    if (signal) {
      const onAbort = (): void => flight.run.cancel(abortError(signal, abortReason));
      signal.addEventListener('abort', onAbort, { once: true });
      flight.detach = () => signal.removeEventListener('abort', onAbort);
    }
    this.#sweeper ??= setInterval(() => this.#sweep(), SWEEP_MS).unref();
    this.#queue.push(flight);
    this.#dispatch();
    return flight.run;
  }

  /** Cancels every run in flight (the end of a shutdown's grace): queued ones leave at once. */
  cancelAll(reason: OffloadError): void {
    for (const flight of [...this.#inFlight.values()]) flight.run.cancel(reason);
  }

  /** Stops every worker; running tasks are abandoned. */
  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#sweeper);
    for (const flight of [...this.#queue]) flight.run.cancel(SHUTTING_DOWN);
    this.#control.close();
    await this.#piscina.close({ force: true });
  }

  /** When the run began on its worker (ms since the epoch), or undefined while it waits. */
  #started(flight: InFlight): number | undefined {
    if (flight.startedAt === undefined && flight.sent) flight.startedAt = this.#slots.startedAt(flight.sent.slot);
    return flight.startedAt;
  }

  #onEvent(message: TaskEventMessage): void {
    const flight = this.#inFlight.get(message.id);
    if (!flight) return; // a late event for a run that has ended
    if (message.offload === 'started') {
      const startedAt = this.#started(flight) ?? performance.timeOrigin + performance.now();
      flight.run.push({ type: 'started', queuedMs: startedAt - flight.submittedAt });
    } else {
      flight.lastProgress = { fraction: message.fraction, message: message.message };
      flight.run.push({ type: 'progress', ...flight.lastProgress });
    }
  }

  /** Hands queued runs to piscina while a worker has room. */
  #dispatch(): void {
    while (this.#live < this.#options.workers * PER_WORKER && this.#slots.free > 0) {
      const flight = this.#queue.shift();
      if (!flight) return;
      this.#send(flight, this.#slots.claim()!);
    }
  }

  #send(flight: InFlight, slot: number): void {
    const ahead = flight.dataBytes <= SEND_AHEAD_MAX_BYTES;
    const sent: Sent = { flight, slot, at: performance.now(), ahead };
    flight.sent = sent;
    this.#live++;
    this.#sent.add(sent);
    const bytes = transferable(flight, ahead);
    const request: RunMessage = {
      offload: 'run',
      id: flight.id,
      slot,
      file: flight.file,
      input: flight.input,
      data: bytes,
      progress: flight.progress,
      call: flight.call,
      item: flight.item,
    };
    // piscina's balancer puts a task that carries a signal only on an idle
    // worker, and nothing behind it: that keeps large inputs from waiting
    // behind another run. The signal itself is never used.
    const options = {
      ...(bytes ? { transferList: [bytes.buffer as ArrayBuffer] } : {}),
      ...(ahead ? {} : { signal: new AbortController().signal }),
    };
    this.#piscina.run(request, options).then(runReply).then(
      (reply) => this.#answered(sent, reply, undefined),
      (crash: unknown) => this.#answered(sent, undefined, crash),
    );
  }

  /**
   * Takes a hand-over back if its worker has not started it. Afterwards the
   * worker skips it, and its slot stays taken until piscina answers for it.
   */
  #takeBack(sent: Sent, as: typeof SlotState.CANCELLED | typeof SlotState.REVOKED): boolean {
    if (!this.#slots.takeBack(sent.slot, as)) return false;
    sent.flight.sent = undefined;
    this.#live--;
    return true;
  }

  /** piscina answered for a hand-over: a reply, a skip, or the worker died under it. */
  #answered(sent: Sent, reply: RunReply | SkippedReply | undefined, crash: unknown): void {
    this.#sent.delete(sent);
    this.#slots.release(sent.slot);
    const { flight } = sent;
    if (flight.sent !== sent) {
      // Taken back earlier: the run was settled or handed over again.
      this.#dispatch();
      return;
    }
    this.#started(flight); // read the slot while it is still this run's
    if (reply && reply.offload !== 'skipped') this.#lastAnsweredAt = performance.now();
    flight.sent = undefined;
    this.#live--;
    const neverStarted = reply === undefined && this.#slots.pending(sent.slot);
    // Bytes handed over went down with the worker: such a run cannot be sent again.
    const intact = flight.data.byteLength === flight.dataBytes;
    if (neverStarted && intact && !this.#closing && !flight.cancelReason && flight.requeues < MAX_REQUEUES) {
      // Its worker died running another task: not this run's fault, so it goes first in line.
      flight.requeues++;
      this.#queue.unshift(flight);
      this.#dispatch();
      return;
    }
    this.#settle(flight, reply?.offload === 'skipped' ? undefined : reply, crash);
  }

  #cancel(flight: InFlight, reason: OffloadError): void {
    if (flight.cancelReason || flight.run.settled) return;
    flight.cancelReason = reason;
    const sent = flight.sent;
    if (!sent) {
      // Still in our queue: it never reaches a worker.
      this.#queue.splice(this.#queue.indexOf(flight), 1);
      this.#settle(flight, undefined, undefined);
      return;
    }
    if (this.#takeBack(sent, SlotState.CANCELLED)) {
      // Handed over but not started (perhaps waiting behind another run): it never will be.
      this.#settle(flight, undefined, undefined);
      this.#dispatch();
      return;
    }
    // Running: a task checking its signal sees the state at once; the
    // message wakes one that is waiting rather than computing.
    this.#slots.cancel(sent.slot);
    this.#control.postMessage({ offload: 'abort', id: flight.id } satisfies ControlMessage);
    this.#armGrace(flight);
  }

  /**
   * A task that ignores its signal loses its worker after the cancel grace;
   * piscina starts a new one, and a run waiting behind it on that worker
   * goes back to the queue.
   */
  #armGrace(flight: InFlight): void {
    flight.graceTimer = setTimeout(() => {
      const sent = flight.sent;
      if (!sent) return;
      const thread = this.#slots.thread(sent.slot);
      const worker = this.#piscina.threads.find((w) => w.threadId === thread);
      // Not awaited: the promise only brings the exit code. piscina sees the exit, settles the run and replaces the worker.
      void worker?.terminate();
    }, this.#options.cancelGraceMs);
  }

  /** Applies --max-queue-ms and run-time limits to every run in flight. */
  #sweep(): void {
    if (this.#inFlight.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
      return;
    }
    this.#moveStuckRuns();
    const now = performance.timeOrigin + performance.now();
    const maxQueueMs = this.#options.maxQueueMs ?? 0;
    for (const flight of this.#inFlight.values()) {
      if (flight.cancelReason) continue;
      const startedAt = this.#started(flight);
      if (startedAt === undefined && maxQueueMs > 0 && now - flight.submittedAt >= maxQueueMs) {
        flight.run.cancel(new OffloadError(Status.RESOURCE_EXHAUSTED, `task ${flight.task} waited ${maxQueueMs} ms for a worker; the server is overloaded, retry later`));
      } else if (startedAt !== undefined && flight.runLimitMs > 0 && now - startedAt >= flight.runLimitMs) {
        flight.run.cancel(new OffloadError(Status.DEADLINE_EXCEEDED, `task ${flight.task} exceeded its run time limit of ${flight.runLimitMs} ms`));
      }
    }
  }

  /**
   * A run sent ahead waits behind its worker's current run. When another
   * worker has nothing to run while it still waits, it moves there: a short
   * task never sits behind a long one while a core is free.
   */
  #moveStuckRuns(): void {
    let running = 0;
    for (const sent of this.#sent) if (sent.flight.sent === sent && this.#started(sent.flight) !== undefined) running++;
    if (running >= this.#options.workers) return;
    const now = performance.now();
    const moved: InFlight[] = [];
    for (const sent of this.#sent) {
      // A worker that finished something since this run was sent, and now
      // runs nothing, is idle; a worker still starting up is not.
      const idleSince = sent.at < this.#lastAnsweredAt;
      if (sent.ahead && idleSince && sent.flight.sent === sent && now - sent.at >= STEAL_AFTER_MS && this.#started(sent.flight) === undefined) {
        if (this.#takeBack(sent, SlotState.REVOKED)) moved.push(sent.flight);
      }
    }
    if (moved.length === 0) return;
    this.#queue.unshift(...moved.sort((a, b) => a.id - b.id));
    this.#dispatch();
  }

  #settle(flight: InFlight, reply: RunReply | undefined, crash: unknown): void {
    clearTimeout(flight.graceTimer);
    flight.detach?.();
    this.#inFlight.delete(flight.id);
    this.#dispatch();
    const { run, task, cancelReason } = flight;
    const startedAt = reply?.startedAt ?? this.#started(flight);
    const queuedMs = startedAt === undefined ? undefined : Math.max(0, startedAt - flight.submittedAt);
    if (reply && queuedMs !== undefined) {
      // Events and the reply travel apart: catch up on what the reply knows.
      run.push({ type: 'started', queuedMs });
      const last = reply.lastProgress;
      if (last && (last.fraction !== flight.lastProgress?.fraction || last.message !== flight.lastProgress.message)) {
        run.push({ type: 'progress', ...last });
      }
    }
    if (cancelReason) run.fail(cancelReason);
    else if (reply?.offload === 'succeeded' && reply.outputBytes + (reply.data?.byteLength ?? 0) > this.#maxResultBytes) {
      const size = reply.outputBytes + (reply.data?.byteLength ?? 0);
      run.fail(new OffloadError(Status.RESOURCE_EXHAUSTED, `task ${task} returned about ${size} bytes, more than the ${this.#maxResultBytes}-byte message limit`));
    } else if (reply?.offload === 'succeeded') run.push({ type: 'result', output: reply.output, data: reply.data, queuedMs: queuedMs ?? 0, runMs: reply.runMs });
    else if (reply) run.fail(taskFailure(task, reply.code, reply.message, reply.detail));
    else run.fail(this.#workerCrash(task, crash));
    // Our own grace-period termination, or a run cancelled before it started, is not a crash.
    if (startedAt !== undefined || (!cancelReason && !reply)) this.#breaker.record(task, !cancelReason && !reply);
    this.#options.onSettled?.({
      task,
      code: run.error?.code ?? Status.OK,
      queuedMs,
      runMs: reply?.runMs ?? (startedAt === undefined ? undefined : performance.timeOrigin + performance.now() - startedAt),
    });
  }

  #workerCrash(name: string, crash: unknown): OffloadError {
    const detail = crash instanceof Error ? (crash.stack ?? crash.message) : String(crash);
    if ((crash as { code?: unknown } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY') {
      return new OffloadError(
        Status.RESOURCE_EXHAUSTED,
        `task ${name} exceeded the worker memory limit of ${this.#options.workerMaxMemoryMb} MB`,
        detail,
      );
    }
    return new OffloadError(Status.INTERNAL, `task ${name} failed: its worker stopped unexpectedly`, detail);
  }
}

/**
 * The bytes to transfer to the worker. Cloning a view clones its whole
 * backing buffer, and a request's bytes sit inside the decoded message's
 * buffer: so they are copied, unless the caller hands the buffer over and the
 * bytes fill it (a large request, whose message grpc-js assembled in a buffer
 * of its own), in which case the buffer itself moves and nothing is copied.
 * Only a run that is never sent ahead may lose its bytes that way: one sent
 * ahead may have to be sent again.
 */
function transferable(flight: InFlight, ahead: boolean): Uint8Array | undefined {
  const { data } = flight;
  if (data.byteLength === 0) return undefined;
  const whole = data.buffer;
  if (flight.handOverData && !ahead && whole instanceof ArrayBuffer && data.byteLength >= 0.9 * whole.byteLength) return data;
  return new Uint8Array(data);
}

/** A run's reply; any other answer is the worker's fault, and fails the run like a crash. */
function runReply(reply: WorkerReply): RunReply | SkippedReply {
  if (reply.offload === 'described') throw new Error('the worker answered a run with a description');
  return reply;
}

function abortError(signal: AbortSignal, reason: (() => OffloadError) | undefined): OffloadError {
  return signal.reason instanceof OffloadError ? signal.reason : (reason?.() ?? CALL_CANCELLED);
}

function taskFailure(name: string, codeName: string | undefined, message: string, detail: string): OffloadError {
  const code = statusFromName(codeName);
  if (code !== undefined) return new OffloadError(code, message);
  return new OffloadError(Status.INTERNAL, `task ${name} failed: ${message}`, detail);
}
