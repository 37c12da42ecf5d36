/**
 * The loop side of the bridge. It admits a task (or refuses it at once when
 * the queue is full), hands it to piscina, and turns the worker's port
 * messages and piscina's promise (the bridged future) into a TaskRun. It
 * never computes: everything CPU-heavy happens in workers/.
 */
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { OffloadError, Status, statusFromName } from '../errors.js';
import {
  ABORT_FLAG_INDEX,
  type ControlMessage,
  type DescribedTask,
  type PortMessage,
  type RunMessage,
  type RunReply,
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
  /** Whether to carry progress across threads (a unary Run does not need it). */
  progress?: boolean;
  /** Longest the task may run once started; 0 or undefined: no limit. */
  runLimitMs?: number;
}

export interface PoolStats {
  running: number;
  queued: number;
}

export class TaskPool {
  readonly #piscina: Piscina<WorkerRequest, RunReply | DescribedTask[]>;
  readonly #options: TaskPoolOptions;
  readonly #capacity: number;
  readonly #breaker: CrashBreaker;
  #admitted = 0;
  #running = 0;
  #closing = false;

  constructor(options: TaskPoolOptions) {
    this.#options = options;
    this.#capacity = options.workers + options.maxQueue;
    this.#breaker = new CrashBreaker(options.crashLimit ?? 0, options.crashCooldownMs ?? 0);
    this.#piscina = new Piscina({
      ...workerModule(options.taskFiles),
      minThreads: options.workers,
      maxThreads: options.workers,
      idleTimeout: Number.MAX_SAFE_INTEGER,
      ...(options.workerMaxMemoryMb ? { resourceLimits: { maxOldGenerationSizeMb: options.workerMaxMemoryMb } } : {}),
    });
    this.#piscina.on('workerDestroy', () => {
      if (!this.#closing) options.onWorkerRestart?.();
    });
  }

  get stats(): PoolStats {
    return { running: this.#running, queued: this.#admitted - this.#running };
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
    if (this.#admitted >= this.#capacity) {
      throw new OffloadError(Status.RESOURCE_EXHAUSTED, `the task queue is full (${this.stats.queued} waiting); retry later`);
    }
    const { signal, progress = true, runLimitMs = 0 } = options;
    const { maxQueueMs = 0, cancelGraceMs } = this.#options;
    if (signal?.aborted) throw abortError(signal);

    const submittedAt = performance.now();
    const { port1: port, port2: workerPort } = new MessageChannel();
    const abortFlag = new Int32Array(new SharedArrayBuffer(4));
    const evict = new AbortController();
    let startedAt: number | undefined;
    let cancelReason: OffloadError | undefined;
    let graceTimer: NodeJS.Timeout | undefined;
    let limitTimer: NodeJS.Timeout | undefined;

    const cancel = (reason: OffloadError): void => {
      if (cancelReason || run.settled) return;
      cancelReason = reason;
      clearTimeout(limitTimer);
      if (startedAt === undefined) {
        // Still queued: piscina takes it out of the queue.
        evict.abort(reason);
        return;
      }
      Atomics.store(abortFlag, ABORT_FLAG_INDEX, 1);
      port.postMessage({ type: 'abort' } satisfies ControlMessage);
      // A task that ignores its signal loses its worker; piscina starts a new one.
      graceTimer = setTimeout(() => evict.abort(reason), cancelGraceMs);
    };
    const run = new TaskRun(cancel);
    const onAbort = (): void => cancel(abortError(signal!));
    signal?.addEventListener('abort', onAbort, { once: true });
    if (maxQueueMs > 0) {
      limitTimer = setTimeout(
        () => cancel(new OffloadError(Status.RESOURCE_EXHAUSTED, `task ${task.name} waited ${maxQueueMs} ms for a worker; the server is overloaded, retry later`)),
        maxQueueMs,
      );
    }

    const onPortMessage = (message: PortMessage): void => {
      if (message.type === 'started') {
        startedAt = performance.now();
        this.#running++;
        clearTimeout(limitTimer);
        if (runLimitMs > 0 && !cancelReason) {
          limitTimer = setTimeout(
            () => cancel(new OffloadError(Status.DEADLINE_EXCEEDED, `task ${task.name} exceeded its run time limit of ${runLimitMs} ms`)),
            runLimitMs,
          );
        }
        run.push({ type: 'started', queuedMs: startedAt - submittedAt });
      } else {
        run.push(message);
      }
    };
    port.on('message', onPortMessage);

    this.#admitted++;
    // Cloning a view clones its whole backing buffer (a request's bytes sit
    // inside the decoded message's buffer), so copy exactly the bytes once and
    // transfer the copy instead.
    const bytes = new Uint8Array(data);
    const request: RunMessage = { kind: 'run', file: task.file, input, data: bytes, progress, port: workerPort, abortFlag };
    this.#piscina
      .run(request, { transferList: [workerPort, bytes.buffer], signal: evict.signal })
      .then(
        (reply) => ({ reply: reply as RunReply, crash: undefined }),
        (crash: unknown) => ({ reply: undefined, crash }),
      )
      .then(({ reply, crash }) => {
        // Progress posted just before the reply may still sit in the port.
        for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) onPortMessage(m.message as PortMessage);
        port.close();
        clearTimeout(graceTimer);
        clearTimeout(limitTimer);
        signal?.removeEventListener('abort', onAbort);
        this.#admitted--;
        if (startedAt !== undefined) this.#running--;
        const queuedMs = startedAt === undefined ? undefined : startedAt - submittedAt;
        if (cancelReason) run.fail(cancelReason);
        else if (reply?.ok) run.push({ type: 'result', output: reply.output, data: reply.data, queuedMs: queuedMs ?? 0, runMs: reply.runMs });
        else if (reply) run.fail(taskFailure(task.name, reply.code, reply.message, reply.detail));
        else run.fail(this.#workerCrash(task.name, crash));
        // Our own grace-period termination is not the task crashing.
        this.#breaker.record(task.name, !cancelReason && !reply);
        this.#options.onSettled?.({
          task: task.name,
          code: run.error?.code ?? Status.OK,
          queuedMs,
          runMs: reply?.runMs ?? (startedAt === undefined ? undefined : performance.now() - startedAt),
        });
      });
    return run;
  }

  /** Stops every worker; running tasks are abandoned. */
  async close(): Promise<void> {
    this.#closing = true;
    await this.#piscina.close({ force: true });
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

function abortError(signal: AbortSignal): OffloadError {
  return signal.reason instanceof OffloadError ? signal.reason : new OffloadError(Status.CANCELLED, 'the call was cancelled');
}

function taskFailure(name: string, codeName: string | undefined, message: string, detail: string): OffloadError {
  const code = statusFromName(codeName);
  if (code !== undefined) return new OffloadError(code, message);
  return new OffloadError(Status.INTERNAL, `task ${name} failed: ${message}`, detail);
}
