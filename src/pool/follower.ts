/**
 * One reader of a job's events, with a buffer of its own that stays bounded
 * however slowly it reads: Started once, the latest Progress (a newer one
 * replaces an unread one) and the outcome, which is never dropped. A job has
 * any number of followers; one that leaves stops receiving and does not
 * cancel the job (whoever started the job decides that).
 */
import type { OffloadError } from '../errors.js';

export type TaskEvent =
  | { type: 'started'; queuedMs: number }
  | { type: 'progress'; fraction: number; message: string }
  // outputBytes: about how many bytes the output takes on the wire, as the worker measured it.
  | { type: 'result'; output: unknown; data: Uint8Array | undefined; outputBytes: number; queuedMs: number; runMs: number };

export type ResultEvent = Extract<TaskEvent, { type: 'result' }>;

export type Outcome = { result: ResultEvent } | { error: OffloadError };

/** One step of a called-back reader: an event (a result is the last), the job's failure, or the end without either (the follower left). */
export type FollowerRead<E = TaskEvent> = { event: E } | { error: unknown } | { end: true };

/** A reader that is called back rather than awaiting: `read` hands over one step at a time, undefined while nothing is unread. */
export interface EventReader<E = TaskEvent> {
  read(): FollowerRead<E> | undefined;
  /** Stops reading: nothing more is kept for this reader. */
  close(): void;
}

export class Follower implements AsyncIterable<TaskEvent>, EventReader {
  #started: TaskEvent | undefined;
  #progress: TaskEvent | undefined;
  #end: Outcome | undefined;
  #wake: (() => void) | undefined;
  #onReadable: (() => void) | undefined;
  #read = false;
  #left = false;
  readonly #job: { forget(follower: Follower): void };

  /** @param job told once when the follower stops following, so it forgets it (the job itself, not a closure: one per open stream adds up). */
  constructor(job: { forget(follower: Follower): void }) {
    this.#job = job;
  }

  /** @internal The job hands over an event; after the outcome, nothing more arrives. */
  deliver(event: TaskEvent): void {
    if (this.#end || this.#left) return;
    if (event.type === 'started') this.#started = event;
    else if (event.type === 'progress') this.#progress = event;
    else this.#end = { result: event };
    this.#notify();
  }

  /** @internal The job ended without a result. */
  fail(error: OffloadError): void {
    if (this.#end || this.#left) return;
    this.#end = { error };
    this.#notify();
  }

  /** After watch(): stops reading, as leave() does. */
  close(): void {
    this.leave();
  }

  /** Stops following: no more events are kept for this follower. The job goes on. */
  leave(): void {
    if (this.#left) return;
    this.#left = true;
    this.#started = this.#progress = undefined;
    this.#job.forget(this);
    this.#notify();
  }

  /** Waits for the outcome, ignoring progress (a unary call's path: no generator to step through). */
  async result(): Promise<ResultEvent> {
    this.#claimReader();
    try {
      while (!this.#end && !this.#left) await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#started = this.#progress = undefined;
      if (!this.#end) throw new Error('the follower left before the job ended');
      if ('error' in this.#end) throw this.#end.error;
      return this.#end.result;
    } finally {
      this.leave();
    }
  }

  /**
   * Reads without a generator or a promise per event (RunBatch's items):
   * `onReadable` is called when something arrives, and at once if something
   * is already unread; each `read` then hands over one step.
   */
  watch(onReadable: () => void): EventReader {
    this.#claimReader();
    this.#onReadable = onReadable;
    if (this.#started || this.#progress || this.#end || this.#left) onReadable();
    // The follower is its own reader: an open stream holds no reader object or closures beside it.
    return this;
  }

  /** After watch(): the next step, or undefined when nothing is unread. */
  read(): FollowerRead | undefined {
    if (this.#left) return { end: true };
    const started = this.#started;
    if (started) {
      this.#started = undefined;
      return { event: started };
    }
    const end = this.#end;
    if (end && 'error' in end) {
      this.leave();
      return { error: end.error };
    }
    const progress = this.#progress;
    if (progress) {
      this.#progress = undefined;
      return { event: progress };
    }
    if (end) {
      this.leave();
      return { event: end.result };
    }
    return undefined;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<TaskEvent, void, undefined> {
    this.#claimReader();
    try {
      while (!this.#left) {
        const started = this.#started;
        if (started) {
          this.#started = undefined;
          yield started;
          continue;
        }
        const end = this.#end;
        if (end && 'error' in end) throw end.error;
        const progress = this.#progress;
        if (progress) {
          this.#progress = undefined;
          yield progress;
          continue;
        }
        if (end) {
          yield end.result;
          return;
        }
        await new Promise<void>((resolve) => (this.#wake = resolve));
      }
    } finally {
      this.leave();
    }
  }

  #claimReader(): void {
    if (this.#read) throw new Error('a follower can be read only once; follow the job again for another reader');
    this.#read = true;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
    this.#onReadable?.();
  }
}
