/**
 * The worker threads behind the pool: piscina, configured for offload, and
 * which of its workers said they are ready. The pool uses piscina only
 * through WorkerThreads, so tests can put a fake in its place.
 */
import { Piscina } from 'piscina';
import type { WorkerData, WorkerMessage, WorkerReply, WorkerRequest } from '../../bridge/messages.js';
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
}

export function createWorkerThreads(options: WorkerThreadsOptions): WorkerThreads {
  const { filename, boot } = workerModule(options.taskFiles);
  const piscina = new Piscina<WorkerRequest, WorkerReply>({
    filename,
    workerData: { ...boot, ...options.workerData, taskFiles: [...options.taskFiles] } satisfies WorkerData,
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
    close: () => piscina.close({ force: true }),
  };
}
