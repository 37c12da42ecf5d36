import { defineTask } from '../task.js';

/** Odd numbers per sieve segment: 256 KiB of flags, about the size of an L2 cache. */
const SEGMENT = 1 << 18;

export default defineTask<{ limit: number }>({
  name: 'primes',
  description: 'Counts the primes below `limit` with a segmented sieve of Eratosthenes; outputs {count}.',
  // Its output is a function of its request alone.
  cache: true,
  input: {
    type: 'object',
    properties: {
      limit: { type: 'integer', minimum: 2, maximum: 2e9, description: 'Count the primes strictly below this number.' },
    },
    required: ['limit'],
    additionalProperties: false,
  },
  run({ limit }, { progress, signal }) {
    return { count: countPrimesBelow(limit, (done) => {
      signal.throwIfAborted();
      progress(done, `sieved ${Math.round(done * 100)}%`);
    }) };
  },
});

/**
 * Counts primes below `limit`, sieving odd numbers only: index j stands for
 * 2j + 1. `onSegment` is called with the fraction done after every segment.
 */
export function countPrimesBelow(limit: number, onSegment: (fraction: number) => void = () => {}): number {
  if (limit <= 2) return 0;
  const oddCount = Math.floor(limit / 2); // odd numbers 1, 3, ... below limit
  const basePrimes = oddPrimesUpTo(Math.floor(Math.sqrt(limit - 1)));
  // next[i]: index of the next odd multiple of basePrimes[i] still to cross out, from p*p on.
  const next = Float64Array.from(basePrimes, (p) => (p * p - 1) / 2);
  const segment = new Uint8Array(SEGMENT);
  let count = 1; // the prime 2
  for (let lo = 0; lo < oddCount; lo += SEGMENT) {
    const hi = Math.min(lo + SEGMENT, oddCount);
    segment.fill(0);
    for (let i = 0; i < basePrimes.length; i++) {
      const p = basePrimes[i]!;
      let j = next[i]!;
      for (; j < hi; j += p) segment[j - lo] = 1;
      next[i] = j;
    }
    for (let j = Math.max(lo, 1); j < hi; j++) if (segment[j - lo] === 0) count++;
    onSegment(hi / oddCount);
  }
  return count;
}

/** Odd primes up to and including n, by a plain sieve (n is at most about 44722). */
function oddPrimesUpTo(n: number): number[] {
  const composite = new Uint8Array(n + 1);
  const primes: number[] = [];
  for (let i = 3; i <= n; i += 2) {
    if (composite[i]) continue;
    primes.push(i);
    for (let k = i * i; k <= n; k += 2 * i) composite[k] = 1;
  }
  return primes;
}
