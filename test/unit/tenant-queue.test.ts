/**
 * Fair queuing among tenants within one priority level (deficit round
 * robin), alone and in the pool with fake workers: the order is pinned
 * without sleeping.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../../src/pool/job.js';
import { RunCosts, sharesByRunTime } from '../../src/pool/run-costs.js';
import { TaskPool } from '../../src/pool/task-pool.js';
import { TenantQueue, type Shares } from '../../src/pool/tenant-queue.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeWorkerThreads } from '../helpers/fake-worker-threads.js';
import { createJob } from '../helpers/jobs.js';

function jobOf(tenant: string, label: string, task = 'echo'): Job {
  const job = createJob();
  Object.assign(job.request, { tenant, task, input: label });
  return job;
}

const labels = (jobs: Job[]): unknown[] => jobs.map((job) => job.request.input);
const drain = (queue: TenantQueue, count = Infinity): Job[] => {
  const taken: Job[] = [];
  for (let job = queue.shift(); job; job = taken.length < count ? queue.shift() : undefined) {
    taken.push(job);
    if (taken.length === count) break;
  }
  return taken;
};
const queueOf = (shares?: Shares, ...jobs: Job[]): TenantQueue => {
  const queue = new TenantQueue(shares);
  for (const job of jobs) queue.push(job);
  return queue;
};

describe('the tenant queue', () => {
  it('takes the tenants in turn, one job each per turn when jobs cost the same, however many each queued', () => {
    const queue = queueOf(undefined, ...['a1', 'a2', 'a3', 'a4', 'a5'].map((l) => jobOf('A', l)), jobOf('B', 'b1'), jobOf('C', 'c1'), jobOf('C', 'c2'));
    expect(labels(drain(queue))).toEqual(['a1', 'b1', 'c1', 'a2', 'c2', 'a3', 'a4', 'a5']);
    expect(queue.size).toBe(0);
  });

  it("keeps one tenant's jobs first in, first out", () => {
    const jobs = Array.from({ length: 6 }, (_, i) => jobOf('A', `a${i}`));
    expect(drain(queueOf(undefined, ...jobs))).toEqual(jobs);
  });

  it('starts a tenant with one job after at most one job of each other busy tenant', () => {
    const queue = queueOf(undefined, ...Array.from({ length: 50 }, (_, i) => jobOf('A', `a${i}`)), ...Array.from({ length: 50 }, (_, i) => jobOf('B', `b${i}`)));
    drain(queue, 7);
    queue.push(jobOf('C', 'c'));
    expect(labels(drain(queue, 3))).toContain('c');
  });

  it('gives a tenant of weight 3 three jobs for each one of a tenant of weight 1', () => {
    const shares: Shares = { cost: () => 1, quantum: () => 1, weight: (tenant) => (tenant === 'B' ? 3 : 1) };
    const queue = queueOf(shares, ...Array.from({ length: 10 }, (_, i) => jobOf('A', `a${i}`)), ...Array.from({ length: 30 }, (_, i) => jobOf('B', `b${i}`)));
    const first = drain(queue, 16).map((job) => job.request.tenant);
    expect(first.join('')).toBe('ABBBABBBABBBABBB');
  });

  it("charges a job its task's expected run time: a tenant of 100 ms jobs starts one while a tenant of 10 ms jobs starts ten", () => {
    const costs = new RunCosts();
    costs.record('slow', 100);
    costs.record('quick', 10);
    const queue = queueOf(sharesByRunTime(costs, undefined), ...Array.from({ length: 5 }, (_, i) => jobOf('S', `s${i}`, 'slow')), ...Array.from({ length: 30 }, (_, i) => jobOf('Q', `q${i}`, 'quick')));
    const tenants = drain(queue, 23).map((job) => job.request.tenant).join('');
    expect(tenants).toBe(`S${'Q'.repeat(10)}S${'Q'.repeat(10)}S`);
  });

  it("puts a job taken back from a worker before every tenant's turn", () => {
    const queue = queueOf(undefined, jobOf('A', 'a1'), jobOf('B', 'b1'));
    const back = jobOf('B', 'back');
    queue.pushFront(back);
    expect(labels(drain(queue))).toEqual(['back', 'a1', 'b1']);
  });

  it('removes a job wherever it waits, and a tenant whose last job left is out of the round', () => {
    const [a1, b1, a2, c1] = [jobOf('A', 'a1'), jobOf('B', 'b1'), jobOf('A', 'a2'), jobOf('C', 'c1')];
    const queue = queueOf(undefined, a1, b1, a2, c1);
    expect([queue.remove(b1), queue.remove(b1)]).toEqual([true, false]);
    expect(labels(drain(queue))).toEqual(['a1', 'c1', 'a2']);
  });

  it('does not let a tenant save up credit while it has nothing waiting', () => {
    const queue = queueOf(undefined, jobOf('A', 'a1'));
    expect(labels(drain(queue))).toEqual(['a1']);
    for (const label of ['b1', 'b2', 'b3']) queue.push(jobOf('B', label));
    for (const label of ['a2', 'a3']) queue.push(jobOf('A', label));
    expect(labels(drain(queue))).toEqual(['b1', 'a2', 'b2', 'a3', 'b3']);
  });
});

describe('run costs', () => {
  it("learn a task's run time, recent runs counting most, and count a task never run as the longest", () => {
    const costs = new RunCosts();
    expect(costs.of('new')).toBe(1);
    costs.record('spin', 100);
    costs.record('spin', 200);
    expect(costs.of('spin')).toBeCloseTo(120);
    expect([costs.longest, costs.of('new')]).toEqual([120, 120]);
  });
});

const pools: TaskPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});
const settle = async () => {
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
};

function setup({ workers = 1, maxQueue = 100, maxQueuePerTenant = undefined as number | undefined } = {}) {
  const clock = new FakeClock();
  const threads = new FakeWorkerThreads(workers, clock);
  const pool = new TaskPool({ workers, maxQueue, maxQueuePerTenant, maxQueueMs: 0, cancelGraceMs: 300, taskFiles: [], clock, createWorkerThreads: threads.create });
  pools.push(pool);
  const submit = (tenant: string, input: unknown) => pool.run({ name: 'spin', file: '/tasks/spin.js' }, input, new Uint8Array(0), { tenant });
  /** The worker runs what it holds, each for `ms`, until `done` says stop; returns the inputs in the order they ran. */
  const runAll = async (ms: number, done: (ran: unknown[]) => boolean = () => false): Promise<unknown[]> => {
    const ran: unknown[] = [];
    while (threads.holding()[0]!.length > 0 && !done(ran)) {
      const id = threads.start(0);
      if (id === undefined) continue;
      ran.push(id);
      clock.advance(ms);
      threads.finish(0, id);
      await settle();
    }
    return ran;
  };
  return { clock, threads, pool, submit, runAll };
}

describe('the pool with tenants', () => {
  it("starts a light tenant's one job after at most two of a flooding tenant's: the one running and the one sent ahead", async () => {
    const { submit, runAll } = setup();
    const flood = Array.from({ length: 50 }, (_, i) => submit('A', i));
    const light = submit('B', 'light');
    const ran = await runAll(100, (done) => done.includes(light.id));
    expect(ran.indexOf(light.id)).toBeLessThanOrEqual(2);
    expect(flood[0]!.state).toBe('succeeded');
  });

  it('gives two tenants flooding equally the same number of runs', async () => {
    const { submit, runAll } = setup();
    const jobs = Array.from({ length: 40 }, (_, i) => [submit('A', i), submit('B', i)]).flat();
    const tenantOf = new Map(jobs.map((job) => [job.id, job.request.tenant]));
    const ran = await runAll(50, (done) => done.length === 40);
    const a = ran.filter((id) => tenantOf.get(id as number) === 'A').length;
    expect([a, ran.length - a]).toEqual([20, 20]);
  });

  it('refuses a tenant at its --max-queue-per-tenant at once, while admitting another', () => {
    const { submit } = setup({ maxQueuePerTenant: 2 });
    for (let i = 0; i < 3; i++) submit('A', i);
    expect(() => submit('A', 'over')).toThrow(expect.objectContaining({ message: 'tenant "A" has its limit of 2 tasks waiting (--max-queue-per-tenant); retry later' }));
    expect(submit('B', 'other').state).toBe('queued');
  });
});
