/**
 * The loop side of the bridge. It admits a task (or refuses it at once when
 * the queue is full), hands it to piscina, and turns the worker's events and
 * piscina's promise (the bridged future) into a TaskRun. It never computes:
 * everything CPU-heavy happens in workers/.
 */
import { performance } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { OffloadError, SHUTTING_DOWN, Status, statusFromName } from '../errors.js';
import {
  CONTROL_CHANNEL,
  type ControlMessage,
  type DescribedTask,
  type RunMessage,
  type RunReply,
  type TaskEventMessage,
  type WorkerMessage,
  type WorkerData,
  type WorkerRequest,
} from './messages.js';
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
  /** A second signal with the same effect (the server's, at the end of a shutdown). */
  serverSignal?: AbortSignal;
  /** Whether to carry started and progress events across threads (a unary Run does not need them). */
  progress?: boolean;
  /** Longest the task may run once started; 0 or undefined: no limit. */
  runLimitMs?: number;
}

export interface PoolStats {
  running: number;
  queued: number;
}

/** How often limits (queue wait, run time) are checked: one timer for every run. */
const SWEEP_MS = 20;

interface InFlight {
  readonly id: number;
  readonly slot: number;
  readonly task: string;
  readonly run: TaskRun;
  /** ms since the epoch. */
  readonly submittedAt: number;
  readonly runLimitMs: number;
  readonly evict: AbortController;
  readonly request: RunMessage;
  /** Handed to piscina (a worker has it or is about to); before that it waits in our queue. */
  dispatched: boolean;
  /** Set from the started event, or read from the shared slot. */
  startedAt: number | undefined;
  lastProgress: { fraction: number; message: string } | undefined;
  cancelReason: OffloadError | undefined;
  graceTimer: NodeJS.Timeout | undefined;
  /** Removes the run's abort listeners. */
  detach?: () => void;
}

export class TaskPool {
  readonly #piscina: Piscina<WorkerRequest, RunReply | DescribedTask[]>;
  readonly #options: TaskPoolOptions;
  readonly #capacity: number;
  readonly #breaker: CrashBreaker;
  readonly #slots: WorkerData['slots'];
  readonly #freeSlots: number[];
  readonly #inFlight = new Map<number, InFlight>();
  /**
   * Admitted runs waiting for a worker, oldest first. offload queues them
   * itself and hands piscina only as many as there are workers: a queued run
   * can then be cancelled by simply dropping it, and piscina never has to
   * terminate a worker to pull a task back.
   */
  readonly #queue: InFlight[] = [];
  #dispatched = 0;
  readonly #control = new BroadcastChannel(CONTROL_CHANNEL);
  readonly #maxResultBytes: number;
  #nextId = 1;
  #sweeper: NodeJS.Timeout | undefined;
  #closing = false;

  constructor(options: TaskPoolOptions) {
    this.#options = options;
    this.#capacity = options.workers + options.maxQueue;
    this.#breaker = new CrashBreaker(options.crashLimit ?? 0, options.crashCooldownMs ?? 0);
    this.#slots = {
      abort: new Int32Array(new SharedArrayBuffer(4 * this.#capacity)),
      startedAt: new BigInt64Array(new SharedArrayBuffer(8 * this.#capacity)),
    };
    this.#freeSlots = Array.from({ length: this.#capacity }, (_, i) => this.#capacity - 1 - i);
    this.#maxResultBytes = options.maxResultBytes ?? Number.POSITIVE_INFINITY;
    const { filename, entry } = workerModule(options.taskFiles);
    this.#piscina = new Piscina({
      filename,
      workerData: { entry, slots: this.#slots } satisfies WorkerData,
      minThreads: options.workers,
      maxThreads: options.workers,
      idleTimeout: Number.MAX_SAFE_INTEGER,
      niceIncrement: options.workerNice ?? 0,
      ...(options.workerMaxMemoryMb ? { resourceLimits: { maxOldGenerationSizeMb: options.workerMaxMemoryMb } } : {}),
    });
    this.#piscina.on('message', (message: WorkerMessage) => {
      if (message?.offload === 'event') this.#onEvent(message);
      else if (message?.offload === 'stray-error') options.onStrayError?.(message.detail);
    });
    this.#piscina.on('workerDestroy', () => {
      if (!this.#closing) options.onWorkerRestart?.();
    });
    (this.#control as unknown as { unref(): void }).unref();
  }

  get stats(): PoolStats {
    let running = 0;
    for (const flight of this.#inFlight.values()) if (this.#started(flight) !== undefined) running++;
    return { running, queued: this.#inFlight.size - running };
  }

  /** Imports the task modules in a worker and reports what each turned out to be. */
  async describe(files: readonly string[]): Promise<DescribedTask[]> {
    return (await this.#piscina.run({ kind: 'describe', files: [...files] })) as DescribedTask[];
  }

  /**
   * Admits and starts one run. Throws RESOURCE_EXHAUSTED at once when every
   * worker is busy and the queue is full.
   */
  run(task: { name: string; file: string }, input: unknown, data: Uint8Array, options: RunOptions = {}): TaskRun {
    this.#breaker.check(task.name);
    const slot = this.#freeSlots.pop();
    if (slot === undefined) {
      throw new OffloadError(Status.RESOURCE_EXHAUSTED, `the task queue is full (${this.stats.queued} waiting); retry later`);
    }
    const { signal, serverSignal, progress = true, runLimitMs = 0 } = options;
    for (const s of [signal, serverSignal]) {
      if (s?.aborted) {
        this.#freeSlots.push(slot);
        throw abortError(s);
      }
    }
    Atomics.store(this.#slots.abort, slot, 0);
    Atomics.store(this.#slots.startedAt, slot, 0n);

    const id = this.#nextId++;
    // Cloning a view clones its whole backing buffer (a request's bytes sit
    // inside the decoded message's buffer), so copy exactly the bytes once and
    // transfer the copy instead.
    const bytes = data.byteLength > 0 ? new Uint8Array(data) : undefined;
    const flight: InFlight = {
      id,
      slot,
      task: task.name,
      run: new TaskRun((reason) => this.#cancel(flight, reason)),
      request: { kind: 'run', id, slot, file: task.file, input, data: bytes, progress },
      submittedAt: performance.timeOrigin + performance.now(),
      runLimitMs,
      evict: new AbortController(),
      dispatched: false,
      startedAt: undefined,
      lastProgress: undefined,
      cancelReason: undefined,
      graceTimer: undefined,
    };
    this.#inFlight.set(id, flight);
    const onAbort = function (this: AbortSignal): void {
      flight.run.cancel(abortError(this));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    serverSignal?.addEventListener('abort', onAbort, { once: true });
    flight.detach = () => {
      signal?.removeEventListener('abort', onAbort);
      serverSignal?.removeEventListener('abort', onAbort);
    };
    if (runLimitMs > 0 || this.#options.maxQueueMs) this.#sweeper ??= setInterval(() => this.#sweep(), SWEEP_MS).unref();
    this.#queue.push(flight);
    this.#dispatch();
    return flight.run;
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
    if (flight.startedAt === undefined) {
      const micros = Atomics.load(this.#slots.startedAt, flight.slot);
      if (micros !== 0n) flight.startedAt = Number(micros) / 1000;
    }
    return flight.startedAt;
  }

  #onEvent(message: TaskEventMessage): void {
    const flight = this.#inFlight.get(message.id);
    if (!flight) return; // a late event for a run that has ended
    if (message.type === 'started') {
      const startedAt = this.#started(flight) ?? performance.timeOrigin + performance.now();
      flight.run.push({ type: 'started', queuedMs: startedAt - flight.submittedAt });
    } else {
      flight.lastProgress = { fraction: message.fraction, message: message.message };
      flight.run.push({ type: 'progress', ...flight.lastProgress });
    }
  }

  /** Hands queued runs to piscina while a worker is free. */
  #dispatch(): void {
    while (this.#dispatched < this.#options.workers) {
      const flight = this.#queue.shift();
      if (!flight) return;
      flight.dispatched = true;
      this.#dispatched++;
      const transferList = flight.request.data ? [flight.request.data.buffer as ArrayBuffer] : undefined;
      this.#piscina
        .run(flight.request, { ...(transferList ? { transferList } : {}), signal: flight.evict.signal })
        .then(
          (reply) => this.#settle(flight, reply as RunReply, undefined),
          (crash: unknown) => this.#settle(flight, undefined, crash),
        );
    }
  }

  #cancel(flight: InFlight, reason: OffloadError): void {
    if (flight.cancelReason || flight.run.settled) return;
    flight.cancelReason = reason;
    if (!flight.dispatched) {
      // Still in our queue: it never reaches a worker.
      this.#queue.splice(this.#queue.indexOf(flight), 1);
      this.#settle(flight, undefined, undefined);
      return;
    }
    // On its way to a worker or running: the worker checks the flag before it
    // starts the task, and a task checking its signal sees it at once.
    Atomics.store(this.#slots.abort, flight.slot, 1);
    this.#control.postMessage({ type: 'abort', id: flight.id } satisfies ControlMessage);
    this.#armGrace(flight);
  }

  /**
   * A task that ignores its signal loses its worker after the cancel grace;
   * piscina starts a new one. A run that has not started yet is never
   * evicted: its worker is still starting up and will skip it.
   */
  #armGrace(flight: InFlight): void {
    flight.graceTimer = setTimeout(() => {
      if (this.#started(flight) === undefined) this.#armGrace(flight);
      else flight.evict.abort(flight.cancelReason);
    }, this.#options.cancelGraceMs);
  }

  /** Applies --max-queue-ms and run-time limits to every run in flight. */
  #sweep(): void {
    if (this.#inFlight.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
      return;
    }
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

  #settle(flight: InFlight, reply: RunReply | undefined, crash: unknown): void {
    clearTimeout(flight.graceTimer);
    flight.detach?.();
    this.#inFlight.delete(flight.id);
    this.#freeSlots.push(flight.slot);
    if (flight.dispatched) {
      this.#dispatched--;
      this.#dispatch();
    }
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
    else if (reply?.ok && reply.outputBytes + (reply.data?.byteLength ?? 0) > this.#maxResultBytes) {
      const size = reply.outputBytes + (reply.data?.byteLength ?? 0);
      run.fail(new OffloadError(Status.RESOURCE_EXHAUSTED, `task ${task} returned about ${size} bytes, more than the ${this.#maxResultBytes}-byte message limit`));
    } else if (reply?.ok) run.push({ type: 'result', output: reply.output, data: reply.data, queuedMs: queuedMs ?? 0, runMs: reply.runMs });
    else if (reply) run.fail(taskFailure(task, reply.code, reply.message, reply.detail));
    else run.fail(this.#workerCrash(task, crash));
    // Our own grace-period termination, or a run cancelled before it reached a worker, is not a crash.
    if (flight.dispatched) this.#breaker.record(task, !cancelReason && !reply);
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

const CANCELLED = new OffloadError(Status.CANCELLED, 'the call was cancelled');

function abortError(signal: AbortSignal): OffloadError {
  return signal.reason instanceof OffloadError ? signal.reason : CANCELLED;
}

function taskFailure(name: string, codeName: string | undefined, message: string, detail: string): OffloadError {
  const code = statusFromName(codeName);
  if (code !== undefined) return new OffloadError(code, message);
  return new OffloadError(Status.INTERNAL, `task ${name} failed: ${message}`, detail);
}
