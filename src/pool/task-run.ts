/**
 * One task's life as the loop side sees it, readable as an async iterable of
 * events. The buffer between the worker and a slow reader is bounded: at most
 * one Started, the latest Progress (a newer one replaces an unread one) and
 * the terminal result or error, which is never dropped.
 */
import { CALL_CANCELLED, type OffloadError } from '../errors.js';

export type TaskEvent =
  | { type: 'started'; queuedMs: number }
  | { type: 'progress'; fraction: number; message: string }
  | { type: 'result'; output: unknown; data: Uint8Array | undefined; queuedMs: number; runMs: number };

export type ResultEvent = Extract<TaskEvent, { type: 'result' }>;

export class TaskRun implements AsyncIterable<TaskEvent> {
  #started: TaskEvent | undefined;
  #progress: TaskEvent | undefined;
  #end: { result: ResultEvent } | { error: OffloadError } | undefined;
  #wake: (() => void) | undefined;
  #iterated = false;
  #sawStarted = false;
  readonly #cancel: (reason: OffloadError) => void;

  constructor(cancel: (reason: OffloadError) => void) {
    this.#cancel = cancel;
  }

  /** The run's failure, once it has failed. */
  get error(): OffloadError | undefined {
    return this.#end && 'error' in this.#end ? this.#end.error : undefined;
  }

  /** Whether the run has settled (its result or error is known). */
  get settled(): boolean {
    return this.#end !== undefined;
  }

  /** @internal The pool reports what happened. */
  push(event: TaskEvent): void {
    if (this.#end) return;
    if (event.type === 'started') {
      // The pool may learn of the start twice (event and reply); say it once.
      if (this.#sawStarted) return;
      this.#sawStarted = true;
      this.#started = event;
    } else if (event.type === 'progress') this.#progress = event;
    else this.#end = { result: event };
    this.#notify();
  }

  /** @internal The pool reports a failure. */
  fail(error: OffloadError): void {
    if (this.#end) return;
    this.#end = { error };
    this.#notify();
  }

  /** Cancels the run: queued, it leaves the queue; running, it is asked to stop. */
  cancel(reason: OffloadError = CALL_CANCELLED): void {
    this.#cancel(reason);
  }

  /** Waits for the result, ignoring progress (a unary call's path: no generator to step through). */
  async result(): Promise<ResultEvent> {
    if (this.#iterated) throw new Error('a TaskRun can be iterated only once');
    this.#iterated = true;
    while (!this.#end) await new Promise<void>((resolve) => (this.#wake = resolve));
    this.#started = this.#progress = undefined;
    if ('error' in this.#end) throw this.#end.error;
    return this.#end.result;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<TaskEvent, void, undefined> {
    if (this.#iterated) throw new Error('a TaskRun can be iterated only once');
    this.#iterated = true;
    let finished = false;
    try {
      while (true) {
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
          finished = true;
          yield end.result;
          return;
        }
        await new Promise<void>((resolve) => (this.#wake = resolve));
      }
    } finally {
      // A reader that stops early (its caller went away) must not leave the task running.
      if (!finished && !this.#end) this.cancel();
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
