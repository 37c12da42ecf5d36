/**
 * Jobs handed to the workers: each holds a shared slot until piscina answers
 * for it, and the slot says whether its worker has claimed it, so the loop
 * side can take back one that has not started (cancelled, or moved to an
 * idle worker) without terminating anything.
 */
import { CONTROL_CHANNEL, type ControlMessage, type RunMessage, type RunReply, type SkippedReply, type WorkerReply } from '../../bridge/messages.js';
import { SlotState, SlotTable, type TakeBackState } from '../../bridge/slots.js';
import type { Clock } from './clock.js';
import type { Job } from './job.js';
import { mayGoAhead, PER_WORKER, stuckHandOvers, transferable, type HandOver } from './placement.js';
import type { WorkerThreads } from './worker-threads.js';

/** piscina answered for a job's live hand-over: its reply, or the crash; `neverStarted` when its worker died before claiming it. */
export type Answer = { job: Job; reply: RunReply | SkippedReply | undefined; crash: unknown; neverStarted: boolean };

export class HandOvers {
  readonly slots: SlotTable;
  readonly #workers: number;
  readonly #clock: Clock;
  #threads!: WorkerThreads;
  readonly #live = new Map<Job, HandOver>();
  /** Clock time when a worker last finished a job. */
  #lastAnsweredAt = 0;
  readonly #control = new BroadcastChannel(CONTROL_CHANNEL);
  readonly #onAnswer: (answer: Answer) => void;
  readonly #onSlotFreed: () => void;
  readonly #alone: (job: Job) => boolean;

  /**
   * @param onAnswer a live hand-over ended.
   * @param onSlotFreed a slot came free, whether or not its hand-over was live: another job may go.
   * @param alone whether the job goes only to an idle worker with nothing sent behind it: its task's
   *   last run killed its worker, and no other job should go down with it if it does again.
   */
  constructor(workers: number, maxQueue: number, clock: Clock, onAnswer: (answer: Answer) => void, onSlotFreed: () => void, alone: (job: Job) => boolean) {
    this.#workers = workers;
    this.#clock = clock;
    // Live hand-overs need PER_WORKER slots per worker; the rest are for ones taken back whose worker has not skipped them yet.
    this.slots = new SlotTable(workers * PER_WORKER * 2 + maxQueue);
    this.#onAnswer = onAnswer;
    this.#onSlotFreed = onSlotFreed;
    this.#alone = alone;
    (this.#control as unknown as { unref(): void }).unref();
  }

  /** The threads are made after the slots they share; they come in here. */
  attach(threads: WorkerThreads): void {
    this.#threads = threads;
  }

  /** Whether a worker has room for another job. */
  get room(): boolean {
    return this.#live.size < this.#workers * PER_WORKER && this.slots.free > 0;
  }

  jobs(): IterableIterator<Job> {
    return this.#live.keys();
  }

  send(job: Job): void {
    const slot = this.slots.claim()!;
    const ahead = mayGoAhead(job) && !this.#alone(job);
    const handOver: HandOver = { job, slot, at: this.#clock.now(), ahead };
    this.#live.set(job, handOver);
    job.sent();
    const bytes = transferable(job, ahead);
    const { file, input, progress, call, item } = job.request;
    const request: RunMessage = { offload: 'run', id: job.id, slot, file, input, data: bytes, progress, call, item };
    // piscina's balancer puts a task that carries a signal only on an idle
    // worker, and nothing behind it: that keeps large inputs from waiting
    // behind another job, and other jobs from waiting behind one that may
    // kill its worker. The signal itself is never used.
    const options = { ...(bytes ? { transferList: [bytes.buffer as ArrayBuffer] } : {}), ...(ahead ? {} : { signal: new AbortController().signal }) };
    this.#threads.run(request, options).then(runReply).then(
      (reply) => this.#answered(handOver, reply, undefined),
      (crash: unknown) => this.#answered(handOver, undefined, crash),
    );
  }

  /** Takes the job's hand-over back if its worker has not claimed it: the worker then skips it. False when it runs (or was never sent). */
  takeBack(job: Job, as: TakeBackState): boolean {
    const handOver = this.#live.get(job);
    if (!handOver || !this.slots.takeBack(handOver.slot, as)) return false;
    this.#live.delete(job);
    return true;
  }

  /** Reads the slot of a handed-over job: its worker may have claimed it. */
  refresh(job: Job): void {
    const handOver = this.#live.get(job);
    if (!handOver || job.startedAt !== undefined) return;
    const startedAt = this.slots.startedAt(handOver.slot);
    if (startedAt !== undefined) job.running(startedAt);
  }

  /**
   * Takes back the jobs waiting behind a busy worker while another is idle
   * (placement.ts), and with them every other job sent ahead and not
   * started: one sent again alone would queue behind those sent after it,
   * and the queue policy's order would be lost.
   */
  takeBackStuck(running: number): Job[] {
    const stuck = stuckHandOvers(this.#live.values(), running, this.#workers, this.#clock.now(), this.#lastAnsweredAt);
    if (stuck.length === 0) return [];
    return this.takeBackAhead(() => true);
  }

  /** Takes back the jobs sent ahead to a busy worker, not started yet, that `picked` picks. */
  takeBackAhead(picked: (job: Job) => boolean): Job[] {
    const waiting = [...this.#live.values()].filter((handOver) => handOver.ahead && handOver.job.state === 'sent' && picked(handOver.job));
    return waiting.filter((handOver) => this.takeBack(handOver.job, SlotState.REVOKED)).map((handOver) => handOver.job);
  }

  /** Asks a running job to stop: its signal reads the slot, and the message wakes a task that waits rather than computes. */
  cancelRunning(job: Job): void {
    const handOver = this.#live.get(job);
    if (!handOver) return;
    this.slots.cancel(handOver.slot);
    this.#control.postMessage({ offload: 'abort', id: job.id } satisfies ControlMessage);
  }

  /** Stops the worker running `job`, if it still does; piscina replaces it. */
  terminate(job: Job): void {
    const handOver = this.#live.get(job);
    if (handOver) this.#threads.terminate(this.slots.thread(handOver.slot));
  }

  close(): void {
    this.#control.close();
  }

  #answered(handOver: HandOver, reply: RunReply | SkippedReply | undefined, crash: unknown): void {
    this.slots.release(handOver.slot);
    const { job } = handOver;
    if (this.#live.get(job) === handOver) {
      this.refresh(job); // read the slot while it is still this job's
      if (reply && reply.offload !== 'skipped') this.#lastAnsweredAt = this.#clock.now();
      this.#live.delete(job);
      this.#onAnswer({ job, reply, crash, neverStarted: reply === undefined && this.slots.pending(handOver.slot) });
    }
    // A dead worker's jobs are answered for one by one: the next job is picked once all of them are back in the queue.
    if (crash === undefined) this.#onSlotFreed();
    else setImmediate(this.#onSlotFreed);
  }
}

/** A job's reply; any other answer is the worker's fault, and fails the job like a crash. */
function runReply(reply: WorkerReply): RunReply | SkippedReply {
  if (reply.offload === 'described') throw new Error('the worker answered a run with a description');
  return reply;
}
