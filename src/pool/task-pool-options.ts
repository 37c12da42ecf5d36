/** What a TaskPool is configured with and reports. */
import type { TaskOutputMessage, TraceCarrier } from '../../bridge/messages.js';
import type { OffloadError, Status } from '../errors.js';
import type { Clock } from './clock.js';
import type { Job } from './job.js';
import type { Priority } from './priority-queue.js';
import type { RunQueue } from './run-queue.js';
import type { WorkerThreads, WorkerThreadsOptions } from './worker-threads.js';

export interface TaskPoolOptions {
  workers: number;
  maxQueue: number;
  cancelGraceMs: number;
  /** Longest a job may wait for a worker before it fails with RESOURCE_EXHAUSTED; 0: no limit. */
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
  /** Start OpenTelemetry in every worker: runs with a `trace` get a span there. */
  tracing?: boolean;
  /** Told about every job that ends, for metrics and the queue span. */
  onSettled?: (settled: SettledRun) => void;
  /** Told when a worker died or was terminated and piscina replaced it. */
  onWorkerRestart?: () => void;
  /** Told when a task module threw outside any job (a timer firing after its task returned). */
  onStrayError?: (detail: string) => void;
  /** Told of each line a task printed, and of lines dropped beyond the rate limit. */
  onTaskOutput?: (output: TaskOutputMessage) => void;
  /** The server's say on a result of `bytes`: an error when it cannot be sent (the server owns the message limit). */
  checkResult?: (task: string, bytes: number) => OffloadError | undefined;
  /** The queue policy; priorities (FIFO within each) when unset. */
  queue?: RunQueue<Job>;
  /** A low-priority job that waited this long counts as normal; 0: never; default 30 000. */
  priorityAgingMs?: number;
  /** Jobs one tenant may have waiting (queued, or sent ahead and not started); default maxQueue. */
  maxQueuePerTenant?: number;
  /** Each tenant's share of the workers relative to others; a tenant not listed has 1. */
  tenantWeights?: ReadonlyMap<string, number>;
  /** Time; the system clock when unset. Tests pass a fake. */
  clock?: Clock;
  /** The worker threads; piscina when unset. Tests pass a fake. */
  createWorkerThreads?: (options: WorkerThreadsOptions) => WorkerThreads;
}

export interface SettledRun {
  /** The job's number in this pool. */
  id: number;
  task: string;
  tenant: string;
  /** A submitted job's id (Submit). */
  job: string | undefined;
  code: Status;
  /** Why it failed; undefined when it succeeded. */
  message: string | undefined;
  /** When it was admitted, in ms of the pool's clock (the system's: since the epoch). */
  submittedAt: number;
  /** undefined when the job never left the queue. */
  queuedMs: number | undefined;
  runMs: number | undefined;
  trace: TraceCarrier | undefined;
}

export interface RunOptions {
  /** Aborting cancels the job; an OffloadError reason becomes the job's error. */
  signal?: AbortSignal;
  /** Why the job ends when `signal` aborts with no OffloadError reason (a call's deadline or its client's cancel); asked only then. */
  abortReason?: () => OffloadError;
  /** The call that asked for the job, and its batch item: named in the log lines of the task's output. */
  call?: number;
  item?: string;
  /** A submitted job's id (Submit), shown with its run. */
  job?: string;
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
  /** Which queued jobs start first; default normal. */
  priority?: Priority;
  /** Who asks: tenants share the workers in turn; default "default". */
  tenant?: string;
  /** With tracing on: the span the run belongs under (the worker's run span is its child). */
  trace?: TraceCarrier;
}

export interface PoolStats {
  running: number;
  queued: number;
  /** Workers started and able to take a task (fewer than `workers` while a lost one is replaced). */
  readyWorkers: number;
}

/** What the pool holds now (TaskPool.view): read, never changed, by the dashboard. */
export interface PoolView {
  /** Every live job (queued, sent or running), oldest first. */
  jobs: Iterable<Job>;
  /** The worker threads piscina has now. */
  threads: readonly number[];
  /** The thread running a job its worker has claimed. */
  threadOf(job: Job): number | undefined;
  /** Tasks refused after crashing their workers, and until when (ms of the pool's clock). */
  suspended: readonly { task: string; crashes: number; until: number }[];
}

/** Jobs waiting (queued, or sent ahead and not started) of one tenant at one priority. */
export interface QueueDepth {
  tenant: string;
  priority: Priority;
  waiting: number;
}
