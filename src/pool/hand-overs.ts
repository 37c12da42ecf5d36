/**
 * Jobs handed to the workers: each holds a shared slot until piscina answers
 * for it, and the slot says whether its worker has claimed it, so the loop
 * side can take back one that has not started (cancelled, or moved to an
 * idle worker) without terminating anything.
 */
import { CONTROL_CHANNEL, type ControlMessage, type RanReply, type RunMessage, type RunReply, type SkippedReply, type WorkerReply } from '../../bridge/messages.js';
import { SlotState, SlotTable, type TakeBackState } from '../../bridge/slots.js';
import type { Clock } from './clock.js';
import type { Job } from './job.js';
import { mayGoAhead, PER_WORKER, stuckHandOvers, transferable, type HandOver } from './placement.js';
import type { WorkerThreads } from './worker-threads.js';

/**
 * piscina answered for a job's live hand-over: its reply, or the crash;
 * `mayRunAgain` when its worker died before claiming it, or after running it
 * but before sending its reply (held for the runs sent with it).
 */
export type Answer = { job: Job; reply: RunReply | SkippedReply | undefined; crash: unknown; mayRunAgain: boolean };

export class HandOvers {
  readonly slots: SlotTable;
  readonly #workers: number;
  readonly #clock: Clock;
  #threads!: WorkerThreads;
  readonly #live = new Map<Job, HandOver>();
  /** piscina tasks with a live hand-over: each carries one job or several. */
  #tasks = 0;
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

  /** Whether a worker has room for another hand-over (of one job or several). */
  get room(): boolean {
    return this.#tasks < this.#workers * PER_WORKER && this.slots.free > 0;
  }

  /** Whether any hand-over is live: a worker will answer, and dispatch again, soon. */
  get busy(): boolean {
    return this.#tasks > 0;
  }

  jobs(): IterableIterator<Job> {
    return this.#live.keys();
  }

  /**
   * Hands `jobs` to the workers as one piscina task: one job as a RunMessage,
   * several (short runs, sent ahead) as a RunsMessage that one worker runs in turn.
   */
  send(jobs: readonly Job[]): void {
    const alone = jobs.length === 1;
    const task = { live: jobs.length };
    const handOvers = jobs.map((job) => this.#handOver(job, alone, task));
    const runs = handOvers.map(runMessage);
    this.#tasks++;
    const [run] = runs as [RunMessage];
    // piscina's balancer puts a task that carries a signal only on an idle
    // worker, and nothing behind it: that keeps large inputs from waiting
    // behind another job, and other jobs from waiting behind one that may
    // kill its worker. The signal itself is never used.
    const options = { ...(run.data ? { transferList: [run.data.buffer as ArrayBuffer] } : {}), ...(handOvers[0]!.ahead ? {} : { signal: new AbortController().signal }) };
    const reply = alone ? this.#threads.run(run, options).then(runReply) : this.#threads.run({ offload: 'runs', runs }, {}).then(ranReplies);
    reply.then(
      (replies) => this.#answered(handOvers, replies, undefined),
      (crash: unknown) => this.#answered(handOvers, undefined, crash),
    );
  }

  /** Records the job's hand-over: a slot, live until piscina answers or it is taken back. */
  #handOver(job: Job, alone: boolean, task: HandOver['task']): HandOver {
    const slot = this.slots.claim()!;
    const ahead = !alone || (mayGoAhead(job) && !this.#alone(job));
    const handOver: HandOver = { job, slot, at: this.#clock.now(), ahead, task };
    this.#live.set(job, handOver);
    job.sent();
    return handOver;
  }

  /** The thread running the job, once its worker claimed it. */
  threadOf(job: Job): number | undefined {
    const handOver = this.#live.get(job);
    return handOver && !this.slots.pending(handOver.slot) ? this.slots.thread(handOver.slot) || undefined : undefined;
  }

  /** Takes the job's hand-over back if its worker has not claimed it: the worker then skips it. False when it runs (or was never sent). */
  takeBack(job: Job, as: TakeBackState): boolean {
    const handOver = this.#live.get(job);
    if (!handOver || !this.slots.takeBack(handOver.slot, as)) return false;
    this.#forget(handOver);
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
    const taken: Job[] = [];
    // Called for every admitted job: no array is made unless one is picked.
    for (const handOver of this.#live.values()) {
      if (handOver.ahead && handOver.job.state === 'sent' && picked(handOver.job)) taken.push(handOver.job);
    }
    return taken.filter((job) => this.takeBack(job, SlotState.REVOKED));
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

  /** The hand-over is over (answered, or taken back): a task with none left live leaves its worker's place to another. */
  #forget(handOver: HandOver): void {
    this.#live.delete(handOver.job);
    if (--handOver.task.live === 0) this.#tasks--;
  }

  /** piscina answered for one task: `replies` in the order of `handOvers`, or the crash that ended them all. */
  #answered(handOvers: readonly HandOver[], replies: readonly (RunReply | SkippedReply)[] | undefined, crash: unknown): void {
    // After a crash, last first: each job that goes again is put at the queue's front, so they keep their order there.
    const answered = [...handOvers.entries()];
    for (const [index, handOver] of crash === undefined ? answered : answered.reverse()) {
      this.slots.release(handOver.slot);
      const { job } = handOver;
      if (this.#live.get(job) !== handOver) continue;
      const reply = replies?.[index];
      this.refresh(job); // read the slot while it is still this job's
      if (reply && reply.offload !== 'skipped') this.#lastAnsweredAt = this.#clock.now();
      this.#forget(handOver);
      // Not started, or ended with its reply held for its bundle: the dead worker took nothing of this job's that cannot be done again.
      const mayRunAgain = reply === undefined && (this.slots.pending(handOver.slot) || this.slots.done(handOver.slot));
      this.#onAnswer({ job, reply, crash, mayRunAgain });
    }
    // A dead worker's jobs are answered for one by one: the next job is picked once all of them are back in the queue.
    if (crash === undefined) this.#onSlotFreed();
    else setImmediate(this.#onSlotFreed);
  }
}

/** What the worker is sent for a hand-over. */
function runMessage({ job, slot, ahead }: HandOver): RunMessage {
  const { file, input, progress, call, item, trace } = job.request;
  return { offload: 'run', id: job.id, slot, file, input, data: transferable(job, ahead), progress, call, item, trace };
}

/** A lone job's reply, as a bundle of one; any other answer is the worker's fault, and fails the job like a crash. */
function runReply(reply: WorkerReply): RanReply['replies'] {
  if (reply.offload === 'described' || reply.offload === 'ran') throw new Error(`the worker answered a run with "${reply.offload}"`);
  return [reply];
}

function ranReplies(reply: WorkerReply): RanReply['replies'] {
  if (reply.offload !== 'ran') throw new Error(`the worker answered several runs with "${reply.offload}"`);
  return reply.replies;
}
