/**
 * Worker threads without threads, for deterministic tests of the pool: each
 * hand-over is assigned to a fake worker as piscina would (the one holding
 * the fewest; a hand-over with a signal only to an idle one), and the test
 * decides when a worker claims it through the real shared slots, when it
 * finishes, and when it dies.
 */
import type { RunMessage, RunReply, SkippedReply, WorkerMessage, WorkerReply, WorkerRequest } from '../../bridge/messages.js';
import { claimSlot, finishSlot, type SharedSlots } from '../../bridge/slots.js';
import type { WorkerThreads, WorkerThreadsOptions } from '../../src/pool/worker-threads.js';
import type { FakeClock } from './fake-clock.js';

/** One run a fake worker holds; the runs of one bundle (a RunsMessage) share their piscina task, answered once all have. */
export interface FakeHandOver {
  request: RunMessage;
  worker: number;
  task: object;
  inBundle?: boolean;
  resolve: (reply: RunReply | SkippedReply) => void;
  reject: (error: unknown) => void;
}

export class FakeWorkerThreads implements WorkerThreads {
  /** Hand-overs each worker holds, in the order it got them: the first is the one it runs or starts next. */
  readonly held: FakeHandOver[][];
  readonly log: string[] = [];
  /** Job ids in the order they were handed over. */
  readonly handedOver: number[] = [];
  /** Job ids handed over with a signal: piscina puts those on an idle worker only, and nothing behind them. */
  readonly alone: number[] = [];
  #slots!: SharedSlots;
  #threadIds: number[];
  #nextThread: number;
  readonly #clock: FakeClock;
  readonly #exitListeners: (() => void)[] = [];
  readonly #messageListeners: ((message: WorkerMessage) => void)[] = [];

  constructor(workers: number, clock: FakeClock) {
    this.held = Array.from({ length: workers }, () => []);
    this.#threadIds = Array.from({ length: workers }, (_, i) => i + 1);
    this.#nextThread = workers + 1;
    this.#clock = clock;
  }

  /** For TaskPoolOptions.createWorkerThreads. */
  readonly create = (options: WorkerThreadsOptions): WorkerThreads => {
    this.#slots = options.workerData.slots;
    return this;
  };

  /** Job ids handed over together in one bundle, for each bundle. */
  readonly bundles: number[][] = [];

  run(request: WorkerRequest, options: { signal?: AbortSignal }): Promise<WorkerReply> {
    if (request.offload === 'describe') return Promise.resolve({ offload: 'described', tasks: [] });
    // piscina counts tasks, not runs: a bundle is one.
    const counts = this.held.map((held) => new Set(held.map((handOver) => handOver.task)).size);
    const candidates = counts.map((count, worker) => ({ count, worker })).filter(({ count }) => !options.signal || count === 0);
    const { worker } = candidates.sort((a, b) => a.count - b.count || a.worker - b.worker)[0] ?? { worker: 0 };
    const task = {};
    if (request.offload === 'run') {
      this.handedOver.push(request.id);
      if (options.signal) this.alone.push(request.id);
      return new Promise((resolve, reject) => this.held[worker]!.push({ request, worker, task, resolve, reject }));
    }
    const ids = request.runs.map((run) => run.id);
    this.handedOver.push(...ids);
    this.bundles.push(ids);
    return new Promise((resolve, reject) => {
      const replies: (RunReply | SkippedReply)[] = [];
      let answered = 0;
      for (const [index, run] of request.runs.entries()) {
        const resolveRun = (reply: RunReply | SkippedReply): void => {
          replies[index] = reply;
          if (++answered === request.runs.length) resolve({ offload: 'ran', replies });
        };
        this.held[worker]!.push({ request: run, worker, task, resolve: resolveRun, reject, inBundle: true });
      }
    });
  }

  /** Worker `worker` turns to the next hand-over it holds: it runs it, or skips it when the pool took it back. Returns the run's id, or undefined after a skip. */
  start(worker: number): number | undefined {
    const next = this.held[worker]![0];
    if (!next) throw new Error(`worker ${worker} holds nothing`);
    if (!claimSlot(this.#slots, next.request.slot, this.#threadIds[worker]!)) {
      this.held[worker]!.shift();
      next.resolve({ offload: 'skipped' });
      this.log.push(`worker ${worker} skipped job ${next.request.id}`);
      return undefined;
    }
    Atomics.store(this.#slots.startedAt, next.request.slot, BigInt(Math.round(this.#clock.now() * 1000)));
    this.log.push(`worker ${worker} started job ${next.request.id}`);
    return next.request.id;
  }

  /** Worker `worker` finishes the run it started with `output`. */
  finish(worker: number, output: unknown): void {
    const current = this.held[worker]!.shift();
    if (!current) throw new Error(`worker ${worker} runs nothing`);
    const startedAt = Number(Atomics.load(this.#slots.startedAt, current.request.slot)) / 1000;
    if (current.inBundle) finishSlot(this.#slots, current.request.slot);
    current.resolve({ offload: 'succeeded', output, data: undefined, outputBytes: 8, startedAt, runMs: this.#clock.now() - startedAt, lastProgress: undefined });
  }

  /** Worker `worker` dies: piscina rejects everything it held and starts another. */
  crash(worker: number): void {
    const held = this.held[worker]!.splice(0);
    this.#threadIds[worker] = this.#nextThread++;
    for (const handOver of held) handOver.reject(new Error('worker exited'));
    for (const listener of this.#exitListeners) listener();
  }

  /** The ids of the runs each worker holds. */
  holding(): number[][] {
    return this.held.map((held) => held.map((handOver) => handOver.request.id));
  }

  terminate(thread: number): void {
    const worker = this.#threadIds.indexOf(thread);
    this.log.push(`terminate worker ${worker}`);
    if (worker !== -1) this.crash(worker);
  }

  threadIds(): number[] {
    return [...this.#threadIds];
  }

  onMessage(listener: (message: WorkerMessage) => void): void {
    this.#messageListeners.push(listener);
  }

  onWorkerExit(listener: () => void): void {
    this.#exitListeners.push(listener);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
