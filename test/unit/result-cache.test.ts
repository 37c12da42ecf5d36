import { describe, expect, it } from 'vitest';
import { ResultCache } from '../../src/server/result-cache.js';
import { result } from '../helpers/jobs.js';

function cacheWith(maxBytes: number, ttlMs = 1000) {
  let now = 0;
  const cache = new ResultCache({ maxBytes, ttlMs, now: () => now });
  return { cache, advance: (ms: number) => (now += ms) };
}

describe('the result cache', () => {
  it('evicts the least recently used result first to stay within its bytes', () => {
    const { cache } = cacheWith(100);
    for (const key of ['a', 'b', 'c', 'd']) cache.set(key, result(key), 25);
    cache.get('a');
    cache.set('e', result('e'), 25);
    expect(['a', 'b', 'c', 'd', 'e'].filter((key) => cache.get(key))).toEqual(['a', 'c', 'd', 'e']);
    expect(cache.bytes).toBe(100);
  });

  it('does not keep a result larger than a quarter of the cache', () => {
    const { cache } = cacheWith(100);
    cache.set('small', result(), 25);
    cache.set('big', result(), 26);
    expect(cache.get('big')).toBeUndefined();
    expect(cache.get('small')).toBeDefined();
  });

  it('answers a result until its time to live has passed, then never again', () => {
    const { cache, advance } = cacheWith(100, 1000);
    cache.set('a', result(1), 10);
    advance(999);
    expect(cache.get('a')).toEqual(result(1));
    advance(1);
    expect(cache.get('a')).toBeUndefined();
    expect([cache.size, cache.bytes]).toEqual([0, 0]);
  });

  it('replaces the result under a key and counts its bytes once', () => {
    const { cache } = cacheWith(100);
    cache.set('a', result(1), 10);
    cache.set('a', result(2), 20);
    expect(cache.get('a')).toEqual(result(2));
    expect([cache.size, cache.bytes]).toEqual([1, 20]);
  });
});
