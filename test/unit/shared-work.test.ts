import { describe, expect, it, vi } from 'vitest';
import { Errors } from '../../src/errors.js';
import type { Job } from '../../src/pool/job.js';
import { ResultCache } from '../../src/server/result-cache.js';
import { SharedWork, type CacheLookup } from '../../src/server/shared-work.js';
import { createJob, succeed } from '../helpers/jobs.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

function sharedWork() {
  const lookups: CacheLookup[] = [];
  const started: Job[] = [];
  const cancel = vi.fn();
  const shared = new SharedWork(new ResultCache({ maxBytes: 1000, ttlMs: 60_000 }), (_task, result) => lookups.push(result));
  const start = () => {
    const job = createJob(cancel);
    started.push(job);
    return job;
  };
  return { shared, lookups, started, start, cancel };
}

describe('shared work', () => {
  it('runs identical requests once: the second joins the run in flight, the third after it is answered from the cache', async () => {
    const { shared, lookups, started, start } = sharedWork();
    const first = shared.lease('primes', 'k', false, start);
    const second = shared.lease('primes', 'k', false, start);
    expect(started).toHaveLength(1);
    expect([first.cached, second.cached]).toEqual([false, true]);
    succeed(started[0]!, 7);
    expect((await second.result()).output).toBe(7);
    await tick();
    const third = shared.lease('primes', 'k', false, start);
    expect(started).toHaveLength(1);
    expect((await third.result()).output).toBe(7);
    expect(lookups).toEqual(['miss', 'joined', 'hit']);
  });

  it('runs different keys apart', () => {
    const { shared, started, start } = sharedWork();
    shared.lease('primes', 'k1', false, start);
    shared.lease('primes', 'k2', false, start);
    expect(started).toHaveLength(2);
  });

  it('computes afresh for no_cache, without joining, and refreshes the cached result', async () => {
    const { shared, started, start } = sharedWork();
    shared.lease('primes', 'k', false, start);
    succeed(started[0]!, 'old');
    await tick();
    const fresh = shared.lease('primes', 'k', true, start);
    expect(started).toHaveLength(2);
    expect(fresh.cached).toBe(false);
    succeed(started[1]!, 'new');
    await tick();
    expect((await shared.lease('primes', 'k', false, start).result()).output).toBe('new');
  });

  it('never caches a failure: the next identical request runs again', async () => {
    const { shared, started, start } = sharedWork();
    shared.lease('primes', 'k', false, start);
    started[0]!.sent();
    started[0]!.settle({ error: Errors.taskFailed('primes', 'boom') });
    await tick();
    shared.lease('primes', 'k', false, start);
    expect(started).toHaveLength(2);
  });

  it('does not join a run that is being cancelled because its last holder left', () => {
    const { shared, started, start, cancel } = sharedWork();
    shared.lease('primes', 'k', false, start).release(Errors.callCancelled);
    expect(cancel).toHaveBeenCalledOnce();
    const next = shared.lease('primes', 'k', false, start);
    expect(started).toHaveLength(2);
    expect(next.cached).toBe(false);
  });
});

describe('shared work for a call that has already ended', () => {
  it('starts nothing and says why', () => {
    const { shared, started, start } = sharedWork();
    const controller = new AbortController();
    controller.abort(Errors.deadlinePassed);
    expect(() => shared.lease('primes', 'k', false, start, { signal: controller.signal })).toThrow(Errors.deadlinePassed);
    expect(started).toHaveLength(0);
  });
});
