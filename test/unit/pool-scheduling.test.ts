/**
 * The pool's scheduling with a fake clock and fake worker threads: every
 * step (a worker claiming a job, finishing, dying; time passing) happens
 * when the test says, so the order is pinned without sleeping.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Errors, Status } from '../../src/errors.js';
import { MAX_REQUEUES, TaskPool } from '../../src/pool/task-pool.js';
import { STEAL_AFTER_MS } from '../../src/pool/placement.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeWorkerThreads } from '../helpers/fake-worker-threads.js';

const spin = { name: 'spin', file: '/tasks/spin.js' };
/**
 * Lets promise callbacks run (piscina's answers reach the pool through them), and the
 * dispatch deferred after a crash by one turn of the event loop; no clock time passes.
 */
const settle = async () => {
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
};

const pools: TaskPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

function setup({ workers = 2, maxQueue = 8, maxQueueMs = 0, cancelGraceMs = 300 } = {}) {
  const clock = new FakeClock();
  const threads = new FakeWorkerThreads(workers, clock);
  const pool = new TaskPool({ workers, maxQueue, maxQueueMs, cancelGraceMs, taskFiles: [], clock, createWorkerThreads: threads.create });
  pools.push(pool);
  const submit = (input: unknown = null) => pool.run(spin, input, new Uint8Array(0));
  return { clock, threads, pool, submit };
}

describe('the pool, scheduled by hand', () => {
  it('hands jobs to the workers in the order they were admitted, two per worker, the rest waiting', async () => {
    const { threads, submit } = setup();
    const jobs = [1, 2, 3, 4, 5, 6].map((n) => submit(n));
    await settle();
    expect(threads.holding()).toEqual([[1, 3], [2, 4]]);
    expect(jobs.map((job) => job.state)).toEqual(['sent', 'sent', 'sent', 'sent', 'queued', 'queued']);
    threads.start(0);
    threads.finish(0, 'one');
    await settle();
    threads.start(1);
    threads.finish(1, 'two');
    await settle();
    expect(threads.handedOver).toEqual([1, 2, 3, 4, 5, 6]);
    expect(threads.holding()).toEqual([[3, 5], [4, 6]]);
    expect((await jobs[0]!.follow().result()).output).toBe('one');
  });

  it('puts a job whose worker died before starting it back at the head of the queue', async () => {
    const { threads, submit } = setup({ workers: 1 });
    const [running, behind, next, last] = [submit('a'), submit('b'), submit('c'), submit('d')];
    await settle();
    threads.start(0);
    threads.crash(0);
    await settle();
    await expect(running.follow().result()).rejects.toMatchObject({ code: Status.INTERNAL, message: Errors.workerStopped('spin').message });
    // b is back at the head before a's place is given away: b, then c; d waits.
    expect(threads.holding()).toEqual([[2, 3]]);
    expect([behind.state, behind.requeues]).toEqual(['sent', 1]);
    expect([next.state, last.state]).toEqual(['sent', 'queued']);
  });

  it(`fails a job that lost its worker before starting ${MAX_REQUEUES} times already`, async () => {
    const { threads, submit } = setup({ workers: 1 });
    submit('a');
    const unlucky = submit('b');
    await settle();
    for (let crash = 0; crash <= MAX_REQUEUES; crash++) {
      threads.crash(0);
      await settle();
    }
    expect(unlucky.requeues).toBe(MAX_REQUEUES);
    await expect(unlucky.follow().result()).rejects.toMatchObject({ code: Status.INTERNAL, message: Errors.workerStopped('spin').message });
    expect(threads.holding()).toEqual([[]]);
  });

  it('never starts a job cancelled while it waits, in the queue or behind another job on its worker', async () => {
    const { threads, submit } = setup({ workers: 1 });
    const running = submit('a');
    const behind = submit('b');
    const queued = submit('c');
    threads.start(0);
    queued.cancel(Errors.callCancelled);
    behind.cancel(Errors.callCancelled);
    await expect(behind.follow().result()).rejects.toBe(Errors.callCancelled);
    await expect(queued.follow().result()).rejects.toBe(Errors.callCancelled);
    expect([behind.state, queued.state]).toEqual(['cancelled', 'cancelled']);
    threads.finish(0, 'done');
    await settle();
    expect(threads.start(0)).toBeUndefined();
    await settle();
    expect(threads.log).toEqual(['worker 0 started job 1', 'worker 0 skipped job 2']);
    expect(threads.handedOver).toEqual([1, 2]);
    expect(running.state).toBe('succeeded');
  });

  it(`moves a job sent ahead to a worker that went idle, once it has waited ${STEAL_AFTER_MS} ms`, async () => {
    const { clock, threads, submit } = setup();
    const jobs = [1, 2, 3, 4].map((n) => submit(n));
    await settle();
    threads.start(0); // job 1 runs long; job 3 waits behind it
    clock.advance(5);
    threads.start(1);
    threads.finish(1, 2);
    await settle();
    threads.start(1);
    threads.finish(1, 4);
    await settle();
    // Worker 1 is idle; job 3 has waited 5 ms.
    clock.advance(STEAL_AFTER_MS - 10);
    expect(threads.holding()).toEqual([[1, 3], []]);
    clock.advance(10);
    expect(threads.holding()).toEqual([[1, 3], [3]]);
    expect(threads.start(1)).toBe(3);
    threads.finish(1, 'moved');
    await settle();
    expect((await jobs[2]!.follow().result()).output).toBe('moved');
    threads.finish(0, 1);
    await settle();
    expect(threads.start(0)).toBeUndefined(); // its old hand-over there is skipped
  });

  it('keeps admission order when a worker is slow to turn to the job sent ahead to it: that job is not overtaken by the one sent after it', async () => {
    const { clock, threads, submit } = setup({ workers: 1 });
    for (const input of ['a', 'b', 'c']) submit(input);
    threads.start(0);
    clock.advance(STEAL_AFTER_MS);
    threads.finish(0, 'a');
    await settle();
    // a's place went to c, behind b; the worker has not turned to b when the sweep finds it idle.
    clock.advance(STEAL_AFTER_MS * 2);
    await settle();
    const started: number[] = [];
    while (threads.holding()[0]!.length > 0) {
      const id = threads.start(0);
      if (id === undefined) continue;
      started.push(id);
      threads.finish(0, id);
      await settle();
    }
    expect(started).toEqual([2, 3]);
  });

  it('hands a job of a task whose last run killed its worker over alone, and no longer once a run of it succeeded', async () => {
    const { threads, pool } = setup({ workers: 1 });
    const run = (task: string) => pool.run({ name: task, file: `/tasks/${task}.js` }, null, new Uint8Array(0));
    const first = run('exit');
    threads.start(0);
    threads.crash(0);
    await settle();
    await expect(first.follow().result()).rejects.toMatchObject({ code: Status.INTERNAL });
    const again = run('exit');
    const other = run('spin');
    expect(threads.alone).toEqual([again.id]);
    threads.start(0);
    threads.finish(0, 'survived');
    await settle();
    threads.start(0);
    threads.finish(0, 'spun');
    await settle();
    const third = run('exit');
    expect(threads.alone).toEqual([again.id]);
    expect([other.state, third.state]).toEqual(['succeeded', 'sent']);
  });

  it('gives two followers of one job the outcome', async () => {
    const { threads, submit } = setup();
    const job = submit();
    const first = job.follow().result();
    const second = job.follow().result();
    threads.start(0);
    threads.finish(0, 42);
    await settle();
    expect((await first).output).toBe(42);
    expect((await second).output).toBe(42);
  });

  it('goes on when a follower leaves: only a call that started it decides to cancel', async () => {
    const { threads, submit } = setup();
    const job = submit();
    const staying = job.follow().result();
    threads.start(0);
    const leaving = job.follow();
    const reading = leaving[Symbol.asyncIterator]();
    await reading.return?.();
    expect(job.state).toBe('running');
    expect(job.cancelReason).toBeUndefined();
    threads.finish(0, 'kept going');
    await settle();
    expect((await staying).output).toBe('kept going');
  });

  it('fails the jobs that waited --max-queue-ms without starting with RESOURCE_EXHAUSTED, behind a busy worker or in the queue', async () => {
    const { clock, threads, submit } = setup({ workers: 1, maxQueueMs: 100 });
    const running = submit('a');
    const behind = submit('b');
    const queued = submit('c');
    threads.start(0);
    clock.advance(99);
    expect([running.state, behind.state, queued.state]).toEqual(['running', 'sent', 'queued']);
    clock.advance(20);
    await expect(behind.follow().result()).rejects.toEqual(Errors.queueWaitExceeded('spin', 100));
    await expect(queued.follow().result()).rejects.toEqual(Errors.queueWaitExceeded('spin', 100));
    expect(running.state).toBe('running');
    expect(threads.handedOver).toEqual([1, 2]);
  });

  it('terminates the worker of a cancelled task that keeps running after the grace, and sends the job behind it again', async () => {
    const { clock, threads, submit } = setup({ workers: 1, cancelGraceMs: 300 });
    const stubborn = submit('a');
    const behind = submit('b');
    threads.start(0);
    stubborn.cancel(Errors.deadlinePassed);
    clock.advance(299);
    expect(threads.log).not.toContain('terminate worker 0');
    clock.advance(1);
    await settle();
    expect(threads.log).toContain('terminate worker 0');
    await expect(stubborn.follow().result()).rejects.toBe(Errors.deadlinePassed);
    expect(behind.requeues).toBe(1);
    expect(threads.holding()).toEqual([[2]]);
  });

  it('refuses a job at once when every worker and queue place is taken', () => {
    const { submit } = setup({ workers: 1, maxQueue: 1 });
    submit();
    submit();
    // Both wait: one handed to the worker, behind nothing yet, one in the queue.
    expect(() => submit()).toThrow(Errors.queueFull(2).message);
  });
});
