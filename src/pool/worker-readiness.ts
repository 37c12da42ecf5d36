/**
 * Which workers can take a job now. piscina counts its first workers as
 * ready before they have loaded anything, so each worker says it itself,
 * once it has imported the task modules.
 */
export class WorkerReadiness {
  /** Shared with the workers: 1 once every first worker is ready (see WorkerData.poolUp). */
  readonly poolUp = new Int32Array(new SharedArrayBuffer(4));
  readonly #workers: number;
  readonly #threadIds: () => number[];
  /** Threads of the workers that said they were ready (thread ids are never reused). */
  #ready = new Set<number>();
  #onAllReady: () => void = () => {};
  readonly #allReady = new Promise<void>((resolve) => (this.#onAllReady = resolve));

  constructor(workers: number, threadIds: () => number[]) {
    this.#workers = workers;
    this.#threadIds = threadIds;
  }

  /** Resolves once every first worker has started and imported the task modules. */
  allReady(): Promise<void> {
    return this.#allReady;
  }

  /** Workers started and not stopped since that said they are ready (a replacement counts once it has). */
  get count(): number {
    return this.#threadIds().filter((thread) => this.#ready.has(thread)).length;
  }

  /** A worker said it is ready. */
  ready(thread: number): void {
    this.#ready.add(thread);
    if (Atomics.load(this.poolUp, 0) === 1 || this.count < this.#workers) return;
    Atomics.store(this.poolUp, 0, 1);
    this.#onAllReady();
  }

  /** A worker stopped: forget the stopped ones, so the set stays about as small as the pool. */
  exited(): void {
    const live = new Set(this.#threadIds());
    this.#ready = new Set([...this.#ready].filter((thread) => live.has(thread)));
  }
}
