/**
 * The priority policy, alone and in the pool, with a fake clock and fake
 * worker threads: the order is pinned without sleeping.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../../src/pool/job.js';
import { PriorityQueue, type Priority } from '../../src/pool/priority-queue.js';
import { TaskPool } from '../../src/pool/task-pool.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeWorkerThreads } from '../helpers/fake-worker-threads.js';
import { createJob } from '../helpers/jobs.js';

function jobAt(priority: Priority, submittedAt: number): Job {
  const job = createJob();
  Object.assign(job.request, { priority });
  Object.defineProperty(job, 'submittedAt', { value: submittedAt });
  return job;
}

const drain = (queue: PriorityQueue): Job[] => [...(function* () {
  for (let job = queue.shift(); job; job = queue.shift()) yield job;
})()];

describe('the priority queue', () => {
  it('takes high before normal before low, and keeps admission order within a level', () => {
    const clock = new FakeClock();
    const queue = new PriorityQueue(30_000, clock);
    const t = clock.now();
    const jobs = [jobAt('low', t), jobAt('normal', t + 1), jobAt('high', t + 2), jobAt('normal', t + 3), jobAt('high', t + 4), jobAt('low', t + 5)];
    for (const job of jobs) queue.push(job);
    expect(drain(queue)).toEqual([jobs[2], jobs[4], jobs[1], jobs[3], jobs[0], jobs[5]]);
  });

  it('treats a low job that waited the aging time as normal, in admission order among the normal ones', () => {
    const clock = new FakeClock();
    const queue = new PriorityQueue(1000, clock);
    const oldLow = jobAt('low', clock.now());
    queue.push(oldLow);
    clock.advance(500);
    const normal = jobAt('normal', clock.now());
    queue.push(normal);
    const youngLow = jobAt('low', clock.now());
    queue.push(youngLow);
    expect(queue.rank(oldLow)).toBe(0);
    clock.advance(500);
    // Aged: it was admitted before the normal job, so it goes first; the younger low one still waits.
    expect(drain(queue)).toEqual([oldLow, normal, youngLow]);
  });

  it('puts a job taken back at the front of its own level, never above a higher one', () => {
    const clock = new FakeClock();
    const queue = new PriorityQueue(30_000, clock);
    const t = clock.now();
    const [high, normal, back] = [jobAt('high', t), jobAt('normal', t + 1), jobAt('normal', t + 2)];
    queue.push(high);
    queue.push(normal);
    queue.pushFront(back);
    expect(drain(queue)).toEqual([high, back, normal]);
  });

  it("raises an aged low job among its own tenant's normal jobs by admission time, while the tenants keep taking turns", () => {
    const clock = new FakeClock();
    const queue = new PriorityQueue(1000, clock);
    const t = clock.now();
    const of = (job: Job, tenant: string): Job => Object.assign(job, { request: Object.assign(job.request, { tenant }) });
    const oldLow = of(jobAt('low', t), 'A');
    const [a1, a2] = [of(jobAt('normal', t + 10), 'A'), of(jobAt('normal', t + 20), 'A')];
    const [b1, b2] = [of(jobAt('normal', t + 5), 'B'), of(jobAt('normal', t + 15), 'B')];
    for (const job of [oldLow, a1, b1, a2, b2]) queue.push(job);
    clock.advance(1000);
    expect(drain(queue)).toEqual([oldLow, b1, a1, b2, a2]);
  });

  it('never raises a low job when the aging time is 0', () => {
    const clock = new FakeClock();
    const queue = new PriorityQueue(0, clock);
    const [low, normal] = [jobAt('low', clock.now()), jobAt('normal', clock.now() + 1)];
    queue.push(low);
    queue.push(normal);
    clock.advance(24 * 3600 * 1000);
    expect(drain(queue)).toEqual([normal, low]);
  });

  it('removes a job from its level, and says when it was not queued', () => {
    const queue = new PriorityQueue(30_000, new FakeClock());
    const job = jobAt('low', 0);
    queue.push(job);
    expect([queue.remove(job), queue.remove(job), queue.size]).toEqual([true, false, 0]);
  });
});

const pools: TaskPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('the pool with priorities', () => {
  it('starts a high job next, before low ones queued earlier, taking back the low one sent ahead to the busy worker', async () => {
    const clock = new FakeClock();
    const threads = new FakeWorkerThreads(1, clock);
    const pool = new TaskPool({ workers: 1, maxQueue: 20, maxQueueMs: 0, cancelGraceMs: 300, taskFiles: [], clock, createWorkerThreads: threads.create });
    pools.push(pool);
    const spin = { name: 'spin', file: '/tasks/spin.js' };
    const running = pool.run(spin, 'running', new Uint8Array(0));
    threads.start(0);
    const lows = Array.from({ length: 10 }, (_, i) => pool.run(spin, `low ${i}`, new Uint8Array(0), { priority: 'low' }));
    await settle();
    // The first low job waits on the busy worker, sent ahead.
    expect(lows[0]!.state).toBe('sent');
    const high = pool.run(spin, 'high', new Uint8Array(0), { priority: 'high' });
    expect(lows[0]!.state).toBe('queued');
    threads.finish(0, 'done');
    await settle();
    await running.follow().result();
    // The taken-back low job is skipped by its worker; the next hand-over there is the high one.
    await settle();
    expect(threads.handedOver.filter((id) => id !== lows[0]!.id).slice(0, 2)).toEqual([running.id, high.id]);
    expect(high.state).toBe('sent');
    expect(lows.slice(1).every((job) => job.state === 'queued')).toBe(true);
  });
});
