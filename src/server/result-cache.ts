/**
 * Successful results of cacheable tasks, least recently used first out,
 * within `maxBytes` and for `ttlMs` after they were stored. A result larger
 * than a quarter of the cache is not kept: one would evict most others.
 */
import type { ResultEvent } from '../pool/follower.js';

export interface ResultCacheOptions {
  maxBytes: number;
  ttlMs: number;
  now?: () => number;
}

interface Entry {
  result: ResultEvent;
  bytes: number;
  storedAt: number;
}

export class ResultCache {
  /** Map order is use order: the first entry is the least recently used. */
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;
  readonly #maxBytes: number;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: ResultCacheOptions) {
    this.#maxBytes = options.maxBytes;
    this.#ttlMs = options.ttlMs;
    this.#now = options.now ?? Date.now;
  }

  get(key: string): ResultEvent | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (this.#now() - entry.storedAt >= this.#ttlMs) {
      this.#bytes -= entry.bytes;
      return undefined;
    }
    this.#entries.set(key, entry);
    return entry.result;
  }

  /** Keeps a result (replacing any under the key); `bytes` is what it holds (output and data). */
  set(key: string, result: ResultEvent, bytes: number): void {
    this.delete(key);
    if (bytes > this.#maxBytes / 4) return;
    this.#entries.set(key, { result, bytes, storedAt: this.#now() });
    this.#bytes += bytes;
    const now = this.#now();
    // Least recently used first; expired ones at the front go too, so the bytes held are live ones.
    for (const [oldest, entry] of this.#entries) {
      if (this.#bytes <= this.#maxBytes && now - entry.storedAt < this.#ttlMs) break;
      this.#entries.delete(oldest);
      this.#bytes -= entry.bytes;
    }
  }

  delete(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Entries held, expired ones not yet noticed included. */
  get size(): number {
    return this.#entries.size;
  }
}
