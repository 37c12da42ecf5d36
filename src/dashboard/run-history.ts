/**
 * What the dashboard remembers of runs that the pool has let go of: the
 * last RECENT settled runs with their outcome, the progress each run was
 * seen to report while the page was open, and the charts' series. Bounded
 * whatever the load: a settled run costs one record, overwritten in turn.
 */
import { Status, truncate } from '../errors.js';
import type { Job } from '../pool/job.js';
import type { SettledRun } from '../pool/task-pool.js';
import { RunSeries } from './run-series.js';

/** Settled runs kept for the page. */
export const RECENT = 50;
/** Progress events kept per run: the newest. */
export const PROGRESS_KEPT = 20;

export interface ProgressSeen {
  /** When the page's sampler saw it (ms since the epoch): it reads the pool at most 4 times a second. */
  at: number;
  fraction: number;
  message: string;
}

export interface EndedRun {
  id: number;
  task: string;
  tenant: string;
  job: string | undefined;
  /** A gRPC status name: OK, CANCELLED, DEADLINE_EXCEEDED... */
  outcome: string;
  message: string | undefined;
  submittedAt: number;
  queuedMs: number | undefined;
  runMs: number | undefined;
  endedAt: number;
  progress: ProgressSeen[];
}

export class RunHistory {
  readonly series = new RunSeries();
  /** A ring: the next settled run overwrites the oldest, so keeping them costs no shifting. */
  readonly #recent: EndedRun[] = [];
  #next = 0;
  readonly #progress = new Map<number, { last: Job['latestProgress']; seen: ProgressSeen[] }>();
  readonly #now: () => number;
  #restarts = 0;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** The pool settled a run (TaskPoolOptions.onSettled). */
  readonly settled = (run: SettledRun): void => {
    const endedAt = this.#now();
    this.series.record(endedAt, run.queuedMs, run.runMs);
    const progress = this.#progress.get(run.id)?.seen ?? [];
    this.#progress.delete(run.id);
    this.#recent[this.#next] = {
      id: run.id,
      task: run.task,
      tenant: run.tenant,
      job: run.job,
      outcome: Status[run.code],
      message: run.message === undefined ? undefined : ownCopy(truncate(run.message)),
      submittedAt: run.submittedAt,
      queuedMs: run.queuedMs,
      runMs: run.runMs,
      endedAt,
      progress,
    };
    this.#next = (this.#next + 1) % RECENT;
  };

  /** A worker died or was terminated, and was replaced. */
  workerRestarted(): void {
    this.#restarts++;
  }

  get restarts(): number {
    return this.#restarts;
  }

  /** Newest first. */
  recent(): readonly EndedRun[] {
    return [...this.#recent.slice(this.#next), ...this.#recent.slice(0, this.#next)].reverse();
  }

  find(id: number): EndedRun | undefined {
    return this.#recent.find((run) => run.id === id);
  }

  /** Progress seen of a live run. */
  progressOf(id: number): readonly ProgressSeen[] {
    return this.#progress.get(id)?.seen ?? [];
  }

  /**
   * Notes each live job's progress if it changed since the last look. Called
   * on the page's ticks only, so nothing is sampled while nobody watches.
   */
  sample(jobs: Iterable<Job>): void {
    const now = this.#now();
    for (const job of jobs) {
      const latest = job.latestProgress;
      if (!latest) continue;
      let entry = this.#progress.get(job.id);
      if (entry?.last === latest) continue;
      if (!entry) this.#progress.set(job.id, (entry = { last: latest, seen: [] }));
      entry.last = latest;
      entry.seen.push({ at: now, fraction: latest.fraction, message: latest.message });
      if (entry.seen.length > PROGRESS_KEPT) entry.seen.shift();
    }
  }
}

/**
 * A string that holds no other: a message may be megabytes of a caller's
 * input, and a slice of it would keep all of it alive in V8 for as long as
 * the history keeps the run.
 */
function ownCopy(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}
