/**
 * The loop side of the bridge. It admits a job (or refuses it at once when
 * the queue is full), keeps it in the queue policy until a worker has room,
 * hands it over, and settles it from the worker's reply or crash. It never
 * computes: everything CPU-heavy happens in workers/.
 */
import type { DescribedTask, RunReply, TaskEventMessage } from '../../bridge/messages.js';
import { SlotState } from '../../bridge/slots.js';
import { Errors, Status, type OffloadError } from '../errors.js';
import { systemClock, type Clock, type Timer } from './clock.js';
import { CrashBreaker } from './crash-breaker.js';
import { PriorityQueue } from './priority-queue.js';
import { RunCosts, sharesByRunTime } from './run-costs.js';
import { TenantLoad } from './tenant-load.js';
import { DEFAULT_TENANT } from '../tenant-name.js';
import { HandOvers, type Answer } from './hand-overs.js';
import { Job, type JobPool, type JobState } from './job.js';
import { brokenLimit, Sweeper } from './limits.js';
import { abortError, catchUp, outcomeOf } from './outcome.js';
import { intact } from './placement.js';
import { bundledRunMs, coalesced, takeBundle } from './bundles.js';
import type { RunQueue } from './run-queue.js';
import type { PoolStats, PoolView, RunOptions, TaskPoolOptions } from './task-pool-options.js';
import { createWorkerThreads, type WorkerThreads } from './worker-threads.js';
import { WorkerReadiness } from './worker-readiness.js';

export type { PoolStats, PoolView, QueueDepth, RunOptions, SettledRun, TaskPoolOptions } from './task-pool-options.js';

/** Times a job that never started goes back to the queue after its worker died, before it fails. */
export const MAX_REQUEUES = 3;

export class TaskPool {
  readonly #options: TaskPoolOptions;
  readonly #clock: Clock;
  readonly #threads: WorkerThreads;
  readonly #readiness: WorkerReadiness;
  readonly #breaker: CrashBreaker;
  readonly #handOvers: HandOvers;
  readonly #queue: RunQueue<Job>;
  readonly #jobs = new Map<number, Job>();
  /** Jobs in each state, kept by the jobs' own transitions. */
  readonly #counts: Record<JobState, number> = { queued: 0, sent: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
  readonly #graceTimers = new Map<Job, Timer>();
  /** Removes a job's abort listener from its caller's signal. */
  readonly #detach = new Map<Job, () => void>();
  readonly #sweeper: Sweeper;
  /** Expected run times, what fair queuing charges a tenant. */
  readonly #costs = new RunCosts();
  readonly #bundled = bundledRunMs(this.#costs, (task) => this.#breaker.crashedLast(task));
  readonly #dispatchSoon = coalesced(() => this.#dispatch(), () => !this.#handOvers.busy);
  readonly #tenants: TenantLoad;
  #nextId = 1;
  #closing = false;

  constructor(options: TaskPoolOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#queue = options.queue ?? new PriorityQueue(options.priorityAgingMs ?? 30_000, this.#clock, sharesByRunTime(this.#costs, options.tenantWeights));
    this.#tenants = new TenantLoad(options.workers, options.maxQueuePerTenant ?? options.maxQueue);
    this.#breaker = new CrashBreaker(options.crashLimit ?? 0, options.crashCooldownMs ?? 0);
    this.#handOvers = new HandOvers(options.workers, options.maxQueue, this.#clock, (answer) => this.#answered(answer), () => this.#dispatch(), (job) => this.#breaker.crashedLast(job.request.task));
    this.#readiness = new WorkerReadiness(options.workers, () => this.#threads.threadIds());
    this.#threads = (options.createWorkerThreads ?? createWorkerThreads)({
      workers: options.workers,
      taskFiles: options.taskFiles,
      workerData: { slots: this.#handOvers.slots.shared, poolUp: this.#readiness.poolUp },
      workerNice: options.workerNice ?? 0,
      workerMaxMemoryMb: options.workerMaxMemoryMb ?? 0,
      tracing: options.tracing ?? false,
    });
    this.#handOvers.attach(this.#threads);
    this.#threads.onMessage((message) => {
      if (message?.offload === 'started' || message?.offload === 'progress') this.#onEvent(message);
      else if (message?.offload === 'output') options.onTaskOutput?.(message);
      else if (message?.offload === 'ready') this.#readiness.ready(message.thread);
      else if (message?.offload === 'stray-error') options.onStrayError?.(message.detail);
    });
    this.#threads.onWorkerExit(() => {
      this.#readiness.exited();
      if (!this.#closing) options.onWorkerRestart?.();
    });
    this.#sweeper = new Sweeper(this.#clock, () => this.#sweep(), () => this.#jobs.size > 0);
  }

  get stats(): PoolStats {
    for (const job of this.#handOvers.jobs()) this.#handOvers.refresh(job);
    return { running: this.#counts.running, queued: this.#counts.queued + this.#counts.sent, readyWorkers: this.#readiness.count };
  }

  /** Resolves once every worker has started and imported the task modules. */
  ready(): Promise<void> {
    return this.#readiness.allReady();
  }

  /** How long a run of `task` is expected to take in ms, once one ran here. */
  expectedRunMs(task: string): number | undefined {
    return this.#costs.known(task);
  }

  /** Imports the task modules in a worker and reports what each turned out to be. */
  async describe(files: readonly string[]): Promise<DescribedTask[]> {
    const reply = await this.#threads.run({ offload: 'describe', files: [...files] }, {});
    if (reply.offload !== 'described') throw new Error(`a worker answered a describe request with "${reply.offload}"`);
    return reply.tasks;
  }

  /** Admits one job. Throws RESOURCE_EXHAUSTED at once when every worker is busy and the queue is full. */
  run(task: { name: string; file: string }, input: unknown, data: Uint8Array, options: RunOptions = {}): Job {
    this.#breaker.check(task.name);
    if (this.#jobs.size >= this.#options.workers + this.#options.maxQueue) throw Errors.queueFull(this.stats.queued);
    const { signal, abortReason, progress = true, runLimitMs = 0, handOverData = false, call, item, job: jobId, priority = 'normal', tenant = DEFAULT_TENANT, trace } = options;
    this.#tenants.check(tenant);
    if (signal?.aborted) throw abortError(signal, abortReason);
    const request = { task: task.name, file: task.file, input, data, handOverData, progress, runLimitMs, call, item, job: jobId, priority, tenant, trace };
    const job = new Job(this.#nextId++, request, this.#clock.now(), this.#jobPool);
    this.#jobs.set(job.id, job);
    this.#counts.queued++;
    this.#tenants.admitted(tenant);
    if (signal) {
      const onAbort = (): void => job.cancel(abortError(signal, abortReason));
      signal.addEventListener('abort', onAbort, { once: true });
      this.#detach.set(job, () => signal.removeEventListener('abort', onAbort));
    }
    this.#sweeper.wake();
    this.#queue.push(job);
    this.#takeBackOutranked(job);
    this.#dispatchSoon();
    return job;
  }

  /** What the pool holds now, read without changing anything (the dashboard). */
  view(): PoolView {
    return { jobs: this.#jobs.values(), threads: this.#threads.threadIds(), threadOf: (job) => this.#handOvers.threadOf(job), suspended: this.#breaker.suspended(this.#clock.now()) };
  }

  /** Cancels every job (the end of a shutdown's grace): queued ones leave at once. */
  cancelAll(reason: OffloadError): void {
    for (const job of [...this.#jobs.values()]) job.cancel(reason);
  }

  /** Stops every worker; running tasks are abandoned. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#sweeper.stop();
    for (const job of [...this.#queue]) job.cancel(Errors.shuttingDown);
    this.#handOvers.close();
    await this.#threads.close();
  }

  /** What every job asks of this pool. */
  readonly #jobPool: JobPool = {
    changed: (_job, from, to) => {
      this.#counts[from]--;
      this.#counts[to]++;
    },
    cancel: (job) => this.#cancel(job),
    probe: (job) => this.#handOvers.refresh(job),
  };

  #onEvent(message: TaskEventMessage): void {
    const job = this.#jobs.get(message.id);
    if (!job) return; // a late event for a job that has ended
    if (message.offload === 'progress') return job.publish({ type: 'progress', fraction: message.fraction, message: message.message });
    this.#handOvers.refresh(job);
    job.publish({ type: 'started', queuedMs: (job.startedAt ?? this.#clock.now()) - job.submittedAt });
  }

  /** Jobs sent ahead to a busy worker that `job` should start before go back to the queue, first in their line. */
  #takeBackOutranked(job: Job): void {
    const queue = this.#queue;
    if (queue.outranks) this.#requeueFront(this.#handOvers.takeBackAhead((waiting) => queue.outranks!(job, waiting)));
  }

  /** Jobs taken back from the workers go to the front of the queue, oldest first. */
  #requeueFront(jobs: Job[]): void {
    for (const job of jobs.sort((a, b) => b.id - a.id)) {
      job.requeued();
      this.#queue.pushFront(job);
    }
  }

  /** Hands queued jobs to the workers while one has room; the queue policy says which goes next. */
  #dispatch(): void {
    if (this.#closing) return;
    while (this.#handOvers.room) {
      const job = this.#queue.shift();
      if (!job) return;
      this.#handOvers.send(takeBundle(job, this.#queue, this.#bundled, this.#handOvers.slots.free));
    }
  }

  #answered({ job, reply, crash, mayRunAgain }: Answer): void {
    if (mayRunAgain && intact(job) && !this.#closing && !job.cancelReason && job.requeues < MAX_REQUEUES) {
      // Its worker died running another task: not this job's fault, so it goes first in line (again, if its reply died with the worker).
      job.requeues++;
      job.requeued();
      this.#queue.pushFront(job);
      return;
    }
    this.#settle(job, reply?.offload === 'skipped' ? undefined : reply, crash);
  }

  #cancel(job: Job): void {
    if (job.state === 'queued' || this.#handOvers.takeBack(job, SlotState.CANCELLED)) {
      // Still queued, or handed over but not started (perhaps behind another job): it never starts.
      this.#queue.remove(job);
      this.#settle(job, undefined, undefined);
      return;
    }
    this.#handOvers.cancelRunning(job);
    // A task that ignores its signal loses its worker after the grace; a job waiting behind it there goes back to the queue.
    this.#graceTimers.set(job, this.#clock.setTimeout(() => this.#handOvers.terminate(job), this.#options.cancelGraceMs));
  }

  /** Moves jobs stuck behind a busy worker to an idle one, and applies the time limits to every job. */
  #sweep(): void {
    for (const job of this.#handOvers.jobs()) this.#handOvers.refresh(job);
    this.#requeueFront(this.#handOvers.takeBackStuck(this.#counts.running));
    this.#dispatch();
    const now = this.#clock.now();
    // Newest first: a job cancelled here frees its place for the next in the queue, which had better not be one about to be cancelled too.
    for (const job of [...this.#jobs.values()].reverse()) {
      const broken = job.cancelReason ? undefined : brokenLimit(job, now, this.#options.maxQueueMs ?? 0);
      if (broken) job.cancel(broken);
    }
  }

  #settle(job: Job, reply: RunReply | undefined, crash: unknown): void {
    this.#clock.clearTimeout(this.#graceTimers.get(job));
    this.#graceTimers.delete(job);
    this.#detach.get(job)?.();
    this.#detach.delete(job);
    this.#jobs.delete(job.id);
    this.#tenants.ended(job.request.tenant);
    // After a crash, HandOvers dispatches once the dead worker's other jobs are requeued.
    if (crash === undefined) this.#dispatch();
    const startedAt = reply?.startedAt ?? job.startedAt;
    const queuedMs = startedAt === undefined ? undefined : Math.max(0, startedAt - job.submittedAt);
    catchUp(job, reply, queuedMs);
    const outcome = outcomeOf(job, reply, crash, queuedMs, this.#options);
    job.settle(outcome);
    const { task } = job.request;
    // Our own grace-period termination, or a job cancelled before it started, is not a crash.
    if (startedAt !== undefined || (!job.cancelReason && !reply)) this.#breaker.record(task, !job.cancelReason && !reply);
    const runMs = reply?.runMs ?? (startedAt === undefined ? undefined : this.#clock.now() - startedAt);
    if (runMs !== undefined) this.#costs.record(task, runMs);
    const error = 'error' in outcome ? outcome.error : undefined;
    this.#options.onSettled?.({ id: job.id, task, tenant: job.request.tenant, job: job.request.job, code: error?.code ?? Status.OK, message: error?.message, submittedAt: job.submittedAt, queuedMs, runMs, trace: job.request.trace });
  }
}
