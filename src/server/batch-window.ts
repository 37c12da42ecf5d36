/**
 * How many of one RunBatch call's items may be in flight at once, decided
 * again before each item is read, from the item read last. Items of a task
 * known to run short (src/pool/bundles.ts) may fill half the queue: they
 * cross to the workers in bundles only when enough of them wait, and they
 * hold another call back for microseconds. Any other item keeps to one per
 * worker running and one waiting, so a batch of long tasks never stands in
 * front of other calls for more than about one run each.
 */
import { BUNDLE_RUN_MS } from '../pool/bundles.js';

export function batchWindow(workers: number, maxQueue: number, expectedRunMs: (task: string) => number | undefined): (previous: { task: string } | undefined) => number {
  const long = workers + Math.min(workers, maxQueue);
  const short = Math.max(long, workers + Math.floor(maxQueue / 2));
  return (previous) => {
    const ms = previous && expectedRunMs(previous.task);
    return ms !== undefined && ms <= BUNDLE_RUN_MS ? short : long;
  };
}
