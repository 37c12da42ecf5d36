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
import { TaskRun } from './task-run.js';
import { workerModule } from './worker-entry.js';

export interface TaskPoolOptions {
  workers: number;
  maxQueue: number;
  cancelGraceMs: number;
  /** Every task module the workers may import (decides whether they need a TS loader). */
  taskFiles: readonly string[];
}

export interface RunOptions {
  /** Aborting cancels the run; an OffloadError reason becomes the run's error. */
  signal?: AbortSignal;
  /** Whether to carry progress across threads (a unary Run does not need it). */
  progress?: boolean;
}

export interface PoolStats {
  running: number;
  queued: number;
}

export class TaskPool {
  readonly #piscina: Piscina<WorkerRequest, RunReply | DescribedTask[]>;
  readonly #capacity: number;
  readonly #cancelGraceMs: number;
  #admitted = 0;
  #running = 0;

  constructor(options: TaskPoolOptions) {
    this.#capacity = options.workers + options.maxQueue;
    this.#cancelGraceMs = options.cancelGraceMs;
    this.#piscina = new Piscina({
      ...workerModule(options.taskFiles),
      minThreads: options.workers,
      maxThreads: options.workers,
      idleTimeout: Number.MAX_SAFE_INTEGER,
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
    if (this.#admitted >= this.#capacity) {
      throw new OffloadError(Status.RESOURCE_EXHAUSTED, `the task queue is full (${this.stats.queued} waiting); retry later`);
    }
    const { signal, progress = true } = options;
    if (signal?.aborted) throw abortError(signal);

    const submittedAt = performance.now();
    const { port1: port, port2: workerPort } = new MessageChannel();
    const abortFlag = new Int32Array(new SharedArrayBuffer(4));
    const evict = new AbortController();
    let startedAt: number | undefined;
    let cancelReason: OffloadError | undefined;
    let graceTimer: NodeJS.Timeout | undefined;

    const cancel = (reason: OffloadError): void => {
      if (cancelReason || run.settled) return;
      cancelReason = reason;
      if (startedAt === undefined) {
        // Still queued: piscina takes it out of the queue.
        evict.abort(reason);
        return;
      }
      Atomics.store(abortFlag, ABORT_FLAG_INDEX, 1);
      port.postMessage({ type: 'abort' } satisfies ControlMessage);
      // A task that ignores its signal loses its worker; piscina starts a new one.
      graceTimer = setTimeout(() => evict.abort(reason), this.#cancelGraceMs);
    };
    const run = new TaskRun(cancel);
    const onAbort = (): void => cancel(abortError(signal!));
    signal?.addEventListener('abort', onAbort, { once: true });

    const onPortMessage = (message: PortMessage): void => {
      if (message.type === 'started') {
        startedAt = performance.now();
        this.#running++;
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
        signal?.removeEventListener('abort', onAbort);
        this.#admitted--;
        if (startedAt !== undefined) this.#running--;
        const queuedMs = (startedAt ?? performance.now()) - submittedAt;
        if (cancelReason) run.fail(cancelReason);
        else if (reply?.ok) run.push({ type: 'result', output: reply.output, data: reply.data, queuedMs, runMs: reply.runMs });
        else if (reply) run.fail(taskFailure(task.name, reply.code, reply.message, reply.detail));
        else run.fail(workerCrash(task.name, crash));
      });
    return run;
  }

  /** Stops every worker; running tasks are abandoned. */
  async close(): Promise<void> {
    await this.#piscina.close({ force: true });
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

function workerCrash(name: string, crash: unknown): OffloadError {
  const detail = crash instanceof Error ? (crash.stack ?? crash.message) : String(crash);
  return new OffloadError(Status.INTERNAL, `task ${name} failed: its worker stopped unexpectedly`, detail);
}
