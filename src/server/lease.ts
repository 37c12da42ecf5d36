/**
 * A caller's hold on a job. The RPCs decide what leaving means through it:
 * a job is cancelled when the last lease on it is released, so a job shared
 * by identical requests runs while anyone still wants it, and a caller that
 * leaves or hits its own deadline ends its own call with its own reason,
 * not the job. A submitted job's lease has no call behind it: only CancelJob
 * releases it.
 */
import { Errors, OffloadError } from '../errors.js';
import type { EventReader, Follower, FollowerRead, Outcome, ResultEvent, TaskEvent } from '../pool/follower.js';
import type { Job, JobState } from '../pool/job.js';

/** The call behind a lease: when its signal aborts, the lease is released with the signal's OffloadError, else with `reason()`. */
export interface Holder {
  signal: AbortSignal;
  reason?: () => OffloadError;
  /** The leases of a holder of many (callHolder): it listens to its signal once for all of them. */
  readonly leases?: Set<Lease>;
}

/**
 * A holder for every lease of one call that holds many (RunBatch's items):
 * one listener on the call's signal releases them all. A listener per lease
 * would cost each lease a walk of every other's on the signal, as
 * EventTarget looks for duplicates on add and remove.
 */
export function callHolder(signal: AbortSignal, reason?: () => OffloadError): Holder {
  const holder: Holder = { signal, ...(reason ? { reason } : {}), leases: new Set<Lease>() };
  signal.addEventListener('abort', () => {
    for (const lease of [...holder.leases!]) lease.release(reasonOf(holder));
  }, { once: true });
  return holder;
}

/** The leases on one job: the last to be released cancels it. */
export class LeaseGroup {
  holders = 0;
  constructor(readonly job: Job) {}

  /** Throws the holder's reason if its call has already ended. */
  lease(cached: boolean, holder?: Holder): Lease {
    if (holder?.signal.aborted) throw reasonOf(holder);
    this.holders++;
    return new Lease(this.job.request.task, this, cached, holder);
  }
}

export class Lease {
  #released = false;
  /** Why it let go while the job still ran: from then on, this holder's outcome. */
  #cut: OffloadError | undefined;
  /** Followers reading for this lease: made to leave when it lets go while the job runs. Made at its size on first use, as Job's followers. */
  #readers: Follower[] | undefined;
  readonly #holder: Holder | undefined;
  readonly #onAbort: (() => void) | undefined;

  /** @param cached the result does not come from a run started for this request: another caller's run, or the cache. */
  constructor(
    readonly task: string,
    readonly group: LeaseGroup | { readonly job: undefined; readonly result: ResultEvent },
    readonly cached: boolean,
    holder?: Holder,
  ) {
    // Listening from the start: a call that ends before it reads a single event still lets go.
    if (holder && group.job) {
      this.#holder = holder;
      if (holder.leases) {
        holder.leases.add(this);
        return;
      }
      this.#onAbort = () => this.release(reasonOf(holder));
      holder.signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** A lease on a result the cache answered: no job, nothing to cancel. */
  static fromCache(task: string, result: ResultEvent): Lease {
    return new Lease(task, { job: undefined, result }, true);
  }

  get job(): Job | undefined {
    return this.group.job;
  }

  /** The job's state as this holder sees it: cancelled once it let go, whatever others keep running. */
  get state(): JobState {
    if (this.#cut) return 'cancelled';
    return this.group.job?.state ?? 'succeeded';
  }

  get latestProgress(): { fraction: number; message: string } | undefined {
    return this.group.job ? this.group.job.latestProgress : undefined;
  }

  get outcome(): Outcome | undefined {
    const { job } = this.group;
    if (!job) return { result: this.group.result };
    if (this.#cut) return { error: this.#cut };
    return job.outcome;
  }

  /** Lets go of the job; the last holder to let go cancels it with `reason`. Idempotent; moot once the job ended. */
  release(reason: OffloadError): void {
    if (this.#released) return;
    this.#released = true;
    if (this.#onAbort) this.#holder!.signal.removeEventListener('abort', this.#onAbort);
    this.#holder?.leases?.delete(this);
    const group = this.group;
    if (!group.job) return;
    if (!group.job.settled) this.#cut = reason;
    if (--group.holders === 0) group.job.cancel(reason);
    // A copy: each follower leaving takes itself off the list.
    if (this.#cut && this.#readers) for (const follower of [...this.#readers]) follower.leave();
  }

  /**
   * The job's events (Started, the latest Progress, live ones, the result),
   * ending with this lease's reason if it is released first. Reading them
   * releases nothing: a watcher of a submitted job follows this way.
   */
  async *follow(): AsyncGenerator<TaskEvent, void, undefined> {
    const { job } = this.group;
    if (!job) {
      const { result } = this.group;
      yield { type: 'started', queuedMs: result.queuedMs };
      yield result;
      return;
    }
    if (this.#cut) throw this.#cut;
    const follower = this.#follow(job);
    try {
      yield* follower;
      // A follower made to leave ends quietly: say why (read anew: release() may have run meanwhile).
      const cut = this.cut;
      if (cut) throw cut;
    } finally {
      this.unfollow(follower);
    }
  }

  /**
   * The events for the call holding this lease, for a reader that is called
   * back: no generator and no promise per event. A result says whether it
   * was `cached` (not computed for this request). The end (a result, a
   * failure, this lease's reason) lets go, as `close` does: a call that stops
   * reading early lets go.
   */
  watch(onReadable: () => void): EventReader<TaskEvent & { cached?: boolean }> {
    const { job } = this.group;
    if (!job || this.#cut) {
      const steps: FollowerRead<TaskEvent & { cached?: boolean }>[] = job
        ? [{ error: this.#cut }]
        : [{ event: { type: 'started', queuedMs: this.group.result.queuedMs } }, { event: { ...this.group.result, cached: true } }];
      onReadable();
      return { read: () => steps.shift() ?? { end: true }, close: () => this.release(Errors.callCancelled) };
    }
    return new LeaseReader(this, this.#follow(job), onReadable);
  }

  /** @internal A follower of the job that leaves when this lease lets go. */
  #follow(job: Job): Follower {
    const follower = job.follow();
    if (this.#readers) this.#readers.push(follower);
    else this.#readers = [follower];
    return follower;
  }

  /** @internal The follower stops reading for this lease. */
  unfollow(follower: Follower): void {
    const at = this.#readers ? this.#readers.indexOf(follower) : -1;
    if (at >= 0) this.#readers!.splice(at, 1);
    follower.leave();
  }

  /** @internal Why it let go while the job still ran, if it did. */
  get cut(): OffloadError | undefined {
    return this.#cut;
  }

  /** The outcome for a unary call holding this lease, which it then lets go; progress is skipped without stepping a generator through it. */
  async result(): Promise<ResultEvent> {
    try {
      return await this.awaitResult();
    } finally {
      this.release(Errors.callCancelled);
    }
  }

  /** Waits for the outcome as this lease sees it, releasing nothing (the job store's way to learn a submitted job ended). */
  async awaitResult(): Promise<ResultEvent> {
    const { job } = this.group;
    if (!job) return this.group.result;
    if (this.#cut) throw this.#cut;
    const follower = this.#follow(job);
    try {
      return await follower.result();
    } catch (error) {
      throw this.cut ?? error;
    } finally {
      this.unfollow(follower);
    }
  }
}

/** Why a holder whose call ended lets go. */
export function reasonOf(holder: Holder): OffloadError {
  const reason: unknown = holder.signal.reason;
  return reason instanceof OffloadError ? reason : (holder.reason?.() ?? Errors.callCancelled);
}

/**
 * A lease's events for the call holding it (Lease.watch). A class, not
 * closures: an open stream holds one. The end (a result, a failure, the
 * lease's reason) lets go, as `close` does.
 */
class LeaseReader implements EventReader<TaskEvent & { cached?: boolean }> {
  constructor(
    readonly lease: Lease,
    readonly follower: Follower,
    onReadable: () => void,
  ) {
    follower.watch(onReadable);
  }

  read(): FollowerRead<TaskEvent & { cached?: boolean }> | undefined {
    const step = this.follower.read();
    if (step === undefined || ('event' in step && step.event.type !== 'result')) return step;
    // Read before closing: release() below would make a cut of its own.
    const cut = this.lease.cut;
    this.close();
    if ('event' in step) return { event: { ...step.event, cached: this.lease.cached } };
    if ('error' in step) return step;
    return cut ? { error: cut } : step;
  }

  close(): void {
    this.lease.unfollow(this.follower);
    this.lease.release(Errors.callCancelled);
  }
}
