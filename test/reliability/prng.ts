/**
 * A small seeded PRNG (mulberry32) so every fuzz run and every random
 * cancellation moment can be replayed: failures print their seed, and
 * OFFLOAD_FUZZ_SEED=<seed> runs the same sequence again.
 */
export class Prng {
  #state: number;

  constructor(readonly seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) out[i] = Math.floor(this.next() * 256);
    return out;
  }
}

/** The seed of this run: OFFLOAD_FUZZ_SEED when set (decimal or 0x hex), else a fixed default. */
export function runSeed(fallback: number): number {
  const raw = process.env['OFFLOAD_FUZZ_SEED'];
  if (!raw) return fallback;
  const seed = Number(raw);
  if (!Number.isInteger(seed)) throw new Error(`OFFLOAD_FUZZ_SEED must be an integer (got "${raw}")`);
  return seed >>> 0;
}
