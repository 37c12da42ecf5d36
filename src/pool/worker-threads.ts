/**
 * The worker threads behind the pool: piscina, configured for offload, and
 * which of its workers said they are ready. The pool uses piscina only
 * through WorkerThreads, so tests can put a fake in its place.
 */
import { Piscina } from 'piscina';
import { CONTROL_CHANNEL, type ControlMessage, type WorkerData, type WorkerMessage, type WorkerReply, type WorkerRequest } from '../../bridge/messages.js';
import { PER_WORKER } from './placement.js';
import { workerModule } from './worker-entry.js';

/** What the pool needs from piscina. */
export interface WorkerThreads {
  run(request: WorkerRequest, options: { transferList?: ArrayBuffer[]; signal?: AbortSignal }): Promise<WorkerReply>;
  /** Stops the worker whose threadId this is (a task that ignored its cancel); piscina replaces it. */
  terminate(thread: number): void;
  /** Workers started and not stopped since, by threadId. */
  threadIds(): number[];
  onMessage(listener: (message: WorkerMessage) => void): void;
  /** A worker stopped (died, or was terminated) and piscina will replace it. */
  onWorkerExit(listener: () => void): void;
  close(): Promise<void>;
}

export interface WorkerThreadsOptions {
  workers: number;
  taskFiles: readonly string[];
  workerData: Pick<WorkerData, 'slots' | 'poolUp'>;
  workerNice: number;
  workerMaxMemoryMb: number;
  tracing: boolean;
}

/** How long closing waits for the workers to send the spans they hold. */
const TRACE_FLUSH_MS = 3000;

export function createWorkerThreads(options: WorkerThreadsOptions): WorkerThreads {
  const { filename, boot } = workerModule(options.taskFiles);
  const piscina = new Piscina<WorkerRequest, WorkerReply>({
    filename,
    workerData: { ...boot, ...options.workerData, taskFiles: [...options.taskFiles], tracing: options.tracing } satisfies WorkerData,
    minThreads: options.workers,
    maxThreads: options.workers,
    concurrentTasksPerWorker: PER_WORKER,
    // The queue policy chose the order jobs are handed over in; without this, a
    // job piscina could not place yet goes to the back of piscina's own queue.
    stricterFIFO: true,
    // piscina's own run and wait histograms: offload keeps its own metrics, and recording costs every task.
    recordTiming: false,
    idleTimeout: Number.MAX_SAFE_INTEGER,
    niceIncrement: options.workerNice,
    // piscina parks an idle worker in a blocking Atomics.wait, so nothing in its event loop runs until the next
    // task. A tracing worker must keep turning between tasks: its exporter sends spans on a timer, over HTTP.
    ...(options.tracing ? { atomics: 'async' as const } : {}),
    ...(options.workerMaxMemoryMb ? { resourceLimits: { maxOldGenerationSizeMb: options.workerMaxMemoryMb } } : {}),
  });
  return {
    run: (request, runOptions) => piscina.run(request, runOptions),
    terminate(thread) {
      // Not awaited: the promise only brings the exit code. piscina sees the exit, answers for the worker's tasks and replaces it.
      void piscina.threads.find((worker) => worker.threadId === thread)?.terminate();
    },
    threadIds: () => piscina.threads.map((worker) => worker.threadId),
    onMessage: (listener) => piscina.on('message', listener),
    onWorkerExit: (listener) => piscina.on('workerDestroy', listener),
    async close() {
      if (options.tracing) await flushWorkerTraces(piscina);
      await piscina.close({ force: true });
    },
  };
}

/**
 * Asks every worker to send the spans it holds and waits until each says it
 * has (at most TRACE_FLUSH_MS): closing terminates the workers, and a span
 * still in a worker's batch would be lost with it.
 */
function flushWorkerTraces(piscina: Piscina): Promise<void> {
  const waiting = new Set(piscina.threads.map((worker) => worker.threadId));
  if (waiting.size === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const onMessage = (message: WorkerMessage): void => {
      if (message?.offload !== 'traces-flushed') return;
      waiting.delete(message.thread);
      if (waiting.size === 0) done();
    };
    const done = (): void => {
      clearTimeout(timer);
      piscina.off('message', onMessage);
      resolve();
    };
    const timer = setTimeout(done, TRACE_FLUSH_MS);
    piscina.on('message', onMessage);
    const control = new BroadcastChannel(CONTROL_CHANNEL);
    control.postMessage({ offload: 'flush-traces' } satisfies ControlMessage);
    control.close();
  });
}
