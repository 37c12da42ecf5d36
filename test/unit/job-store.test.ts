import { describe, expect, it } from 'vitest';
import { Errors } from '../../src/errors.js';
import { JobStore } from '../../src/server/job-store.js';
import { LeaseGroup } from '../../src/server/lease.js';
import { createJob, succeed } from '../helpers/jobs.js';

function storeWith(options: { retentionMs?: number; maxJobs?: number; maxBytes?: number }) {
  let now = 0;
  const store = new JobStore({ retentionMs: 1000, maxJobs: 100, maxBytes: 1000, ...options, now: () => now });
  const add = (id: string) => store.add(id, new LeaseGroup(createJob()).lease(false), id);
  return { store, add, advance: (ms: number) => (now += ms) };
}

const ids = (store: JobStore, candidates: string[]) => candidates.filter((id) => store.get(id) !== undefined);

describe('the job store', () => {
  it('keeps an ended job for the retention time, then answers NOT_FOUND for its id', () => {
    const { store, add, advance } = storeWith({ retentionMs: 1000 });
    store.ended(add('a'), 10);
    advance(999);
    expect(store.get('a')).toBeDefined();
    advance(1);
    expect(store.get('a')).toBeUndefined();
    expect(() => store.require('a')).toThrow(Errors.unknownJob('a'));
  });

  it('drops the jobs that ended first when there are more than --max-jobs, whatever order they were added in', () => {
    const { store, add } = storeWith({ maxJobs: 2 });
    const [a, b, c] = ['a', 'b', 'c'].map(add);
    store.ended(c!, 1);
    store.ended(a!, 1);
    // c was added last but ended first.
    expect(ids(store, ['a', 'b', 'c'])).toEqual(['a', 'b']);
    store.ended(b!, 1);
    expect(ids(store, ['a', 'b', 'c'])).toEqual(['a', 'b']);
  });

  it('never drops a queued or running job, even past every bound', () => {
    const { store, add, advance } = storeWith({ maxJobs: 1, maxBytes: 0, retentionMs: 0 });
    for (const id of ['a', 'b', 'c']) add(id);
    store.ended(add('d'), 5);
    advance(10_000);
    expect(ids(store, ['a', 'b', 'c', 'd'])).toEqual(['a', 'b', 'c']);
  });

  it('drops ended jobs until the retained results fit in --job-store-mb', () => {
    const { store, add } = storeWith({ maxBytes: 100 });
    for (const [id, bytes] of [['a', 40], ['b', 40], ['c', 40]] as const) store.ended(add(id), bytes);
    expect(ids(store, ['a', 'b', 'c'])).toEqual(['b', 'c']);
  });

  it('counts retained jobs by state, a job handed to a worker still queued', () => {
    const { store } = storeWith({});
    const queued = createJob();
    const sent = createJob();
    sent.sent();
    const running = createJob();
    running.sent();
    running.running(0);
    const done = createJob();
    succeed(done);
    for (const [id, job] of Object.entries({ queued, sent, running, done })) store.add(id, new LeaseGroup(job).lease(false), id);
    expect(store.countByState()).toEqual({ queued: 2, running: 1, succeeded: 1, failed: 0, cancelled: 0 });
  });

  it('generates an id when none is given and refuses a malformed one', () => {
    expect(JobStore.id('')).toMatch(/^[0-9a-f-]{36}$/);
    expect(JobStore.id('A-z.0_~')).toBe('A-z.0_~');
    expect(() => JobStore.id('a/b')).toThrow(Errors.invalidJobId);
  });

  it('fingerprints the task, the input and the data, hashing large data the same way as small', async () => {
    const small = await JobStore.fingerprint('t', { a: 1 }, Buffer.alloc(10));
    expect(await JobStore.fingerprint('t', { a: 1 }, Buffer.alloc(10))).toBe(small);
    expect(await JobStore.fingerprint('t', { a: 2 }, Buffer.alloc(10))).not.toBe(small);
    expect(await JobStore.fingerprint('u', { a: 1 }, Buffer.alloc(10))).not.toBe(small);
    // A Struct's fields have no order on the wire: Python and Go clients reorder them between calls.
    expect(await JobStore.fingerprint('t', { b: [1, { d: 1, c: 2 }], a: 'x' }, Buffer.alloc(0))).toBe(await JobStore.fingerprint('t', { a: 'x', b: [1, { c: 2, d: 1 }] }, Buffer.alloc(0)));
    const big = Buffer.alloc(1 << 20, 1);
    const other = Buffer.from(big);
    other[other.length - 1] = 2;
    expect(await JobStore.fingerprint('t', null, big)).toBe(await JobStore.fingerprint('t', null, Buffer.from(big)));
    expect(await JobStore.fingerprint('t', null, big)).not.toBe(await JobStore.fingerprint('t', null, other));
  });
});
