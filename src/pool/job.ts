/**
 * A job: one admitted run of a task, with a stored state, its latest
 * progress and its outcome, and any number of followers. Every change of
 * state goes through `#to`, against the table of allowed transitions.
 */
import type { TraceCarrier } from '../../bridge/messages.js';
import type { OffloadError } from '../errors.js';
import { Follower, type Outcome, type ResultEvent, type TaskEvent } from './follower.js';
import type { Priority } from './priority-queue.js';

export type JobState = 'queued' | 'sent' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/**
 * queued → sent: handed to a worker; sent → queued: taken back before it
 * started (moved to an idle worker) or its worker died first; sent →
 * running: the worker claimed it. A job ends from any live state: cancelled
 * while it waits, or failed when its worker died under it.
 */
const TRANSITIONS: Readonly<Record<JobState, readonly JobState[]>> = {
  queued: ['sent', 'cancelled', 'failed'],
  sent: ['queued', 'running', 'succeeded', 'failed', 'cancelled'],
  running: ['queued', 'succeeded', 'failed', 'cancelled'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

export const isLive = (state: JobState): boolean => state === 'queued' || state === 'sent' || state === 'running';

/** What the job was asked to run, fixed at admission. */
export interface JobRequest {
  task: string;
  file: string;
  input: unknown;
  /** The request's bytes as decoded; a hand-over copies them, or moves their buffer when `handOverData`. */
  data: Uint8Array;
  handOverData: boolean;
  /** Where it waits in the queue (src/pool/priority-queue.ts). */
  priority: Priority;
  /** Who asked for it: tenants share each priority level in turn. */
  tenant: string;
  /** Whether to carry started and progress events across threads. */
  progress: boolean;
  runLimitMs: number;
  call: number | undefined;
  item: string | undefined;
  /** A submitted job's id (Submit). */
  job: string | undefined;
  /** With tracing on: the span the run belongs under. */
  trace: TraceCarrier | undefined;
}

/** What a job asks of the pool that holds it. */
export interface JobPool {
  /** Told of every transition, so the pool's counts derive from the states. */
  changed(job: Job, from: JobState, to: JobState): void;
  /** What cancelling means where the job is now. */
  cancel(job: Job, reason: OffloadError): void;
  /** Reads whether the worker holding a sent job has claimed it (then calls `running`). */
  probe(job: Job): void;
}

export class Job {
  readonly id: number;
  readonly request: JobRequest;
  /** Bytes of `request.data` at admission: fewer afterwards means they moved to a worker. */
  readonly dataBytes: number;
  /** ms since the epoch. */
  readonly submittedAt: number;
  /** Times it went back to the queue after its worker died before starting it. */
  requeues = 0;
  /** Why it was cancelled, once it was asked to stop. */
  cancelReason: OffloadError | undefined;
  #state: JobState = 'queued';
  #startedAt: number | undefined;
  #started: TaskEvent | undefined;
  #progress: Extract<TaskEvent, { type: 'progress' }> | undefined;
  #outcome: Outcome | undefined;
  /** Made with its first follower, at its size: most jobs have one, and a Set's table costs an open stream over a hundred bytes. */
  #followers: Follower[] | undefined;
  readonly #pool: JobPool;

  constructor(id: number, request: JobRequest, submittedAt: number, pool: JobPool) {
    this.id = id;
    this.request = request;
    this.dataBytes = request.data.byteLength;
    this.submittedAt = submittedAt;
    this.#pool = pool;
  }

  get state(): JobState {
    // A worker claims a job through shared memory, without a message: look.
    if (this.#state === 'sent') this.#pool.probe(this);
    return this.#state;
  }

  get settled(): boolean {
    return !isLive(this.#state);
  }

  /** When it began on its worker (ms since the epoch), once known. */
  get startedAt(): number | undefined {
    return this.#startedAt;
  }

  get latestProgress(): { fraction: number; message: string } | undefined {
    return this.#progress;
  }

  get outcome(): Outcome | undefined {
    return this.#outcome;
  }

  get followers(): number {
    return this.#followers?.length ?? 0;
  }

  /** A new reader, given what it missed: Started, the latest Progress, and the outcome if there is one. */
  follow(): Follower {
    const follower = new Follower(this);
    if (this.#started) follower.deliver(this.#started);
    if (this.#progress) follower.deliver(this.#progress);
    if (this.#outcome) deliverOutcome(follower, this.#outcome);
    else if (this.#followers) this.#followers.push(follower);
    else this.#followers = [follower];
    return follower;
  }

  /** @internal A follower stopped following. */
  forget(follower: Follower): void {
    const followers = this.#followers;
    const at = followers ? followers.indexOf(follower) : -1;
    if (at >= 0) followers!.splice(at, 1);
  }

  /** Asks the job to stop; the first reason wins. Followers get it as the outcome. */
  cancel(reason: OffloadError): void {
    if (this.settled || this.cancelReason) return;
    this.cancelReason = reason;
    this.#pool.cancel(this, reason);
  }

  /** @internal Handed to a worker. */
  sent(): void {
    this.#to('sent');
  }

  /** @internal Back in the queue: taken back, or its worker died before starting it. */
  requeued(): void {
    this.#startedAt = undefined;
    this.#to('queued');
  }

  /** @internal Its worker claimed it at `startedAt` (ms since the epoch); known from the slot, an event or the reply. */
  running(startedAt: number): void {
    this.#startedAt ??= startedAt;
    if (this.#state === 'sent') this.#to('running');
  }

  /** @internal Started (said once, however the pool learnt of it) or progress, to every follower. */
  publish(event: Exclude<TaskEvent, { type: 'result' }>): void {
    if (this.settled) return;
    if (event.type === 'started') {
      if (this.#started) return;
      this.#started = event;
    } else {
      this.#progress = event;
    }
    const followers = this.#followers;
    if (!followers) return;
    // A copy when there are several: a follower may leave while it is handed the event.
    for (const follower of followers.length === 1 ? followers : [...followers]) follower.deliver(event);
  }

  /** @internal The end: a result, or a failure (cancelled when it was asked to stop). */
  settle(outcome: Outcome): void {
    this.#outcome = outcome;
    this.#to('result' in outcome ? 'succeeded' : this.cancelReason ? 'cancelled' : 'failed');
    const followers = this.#followers ?? [];
    this.#followers = undefined;
    for (const follower of followers) deliverOutcome(follower, outcome);
  }

  #to(next: JobState): void {
    const from = this.#state;
    if (!TRANSITIONS[from].includes(next)) throw new Error(`job ${this.id}: no transition from ${from} to ${next}`);
    this.#state = next;
    this.#pool.changed(this, from, next);
  }
}

function deliverOutcome(follower: Follower, outcome: Outcome): void {
  if ('result' in outcome) follower.deliver(outcome.result satisfies ResultEvent);
  else follower.fail(outcome.error);
}
