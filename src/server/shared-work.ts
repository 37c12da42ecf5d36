/**
 * Identical requests for a cacheable task computed once: a request whose
 * key is in the result cache is answered from it; one whose twin is running
 * becomes another holder of that run; only the rest start a job.
 */
import type { Job } from '../pool/job.js';
import { Lease, LeaseGroup, reasonOf, type Holder } from './lease.js';
import type { ResultCache } from './result-cache.js';

export type CacheLookup = 'hit' | 'joined' | 'miss';

export class SharedWork {
  /** Runs that identical requests may join, by cache key. */
  readonly #running = new Map<string, LeaseGroup>();

  constructor(
    readonly cache: ResultCache,
    private readonly onLookup: (task: string, result: CacheLookup) => void = () => {},
  ) {}

  /**
   * A lease for a request of a cacheable task. `noCache` computes afresh
   * (and refreshes the cached result) without joining or being joined.
   */
  lease(task: string, key: string, noCache: boolean, start: () => Job, holder?: Holder): Lease {
    // Its call ended while the key was computed: start nothing for it.
    if (holder?.signal.aborted) throw reasonOf(holder);
    if (!noCache) {
      const cached = this.cache.get(key);
      if (cached) {
        this.onLookup(task, 'hit');
        return Lease.fromCache(task, cached);
      }
      const running = this.#running.get(key);
      // A run being cancelled (its last holder left) is not joined: it is about to fail.
      if (running && !running.job.settled && !running.job.cancelReason) {
        const lease = running.lease(true, holder);
        this.onLookup(task, 'joined');
        return lease;
      }
    }
    const group = new LeaseGroup(start());
    const lease = group.lease(false, holder);
    this.onLookup(task, 'miss');
    if (!noCache) this.#running.set(key, group);
    // Not awaited: result() only rejects into the catch.
    void group.job
      .follow()
      .result()
      .then(
        (result) => this.cache.set(key, result, (result.data?.byteLength ?? 0) + result.outputBytes),
        () => {},
      )
      .finally(() => {
        if (this.#running.get(key) === group) this.#running.delete(key);
      });
    return lease;
  }
}
