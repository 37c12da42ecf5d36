/**
 * Short runs waiting in the queue cross to a worker together (src/pool/bundles.ts),
 * pinned with a fake clock and fake worker threads: each run's reply waits for
 * its bundle's last, so only runs known to be short go together, and a worker
 * that dies holding replies loses no job.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Status } from '../../src/errors.js';
import { BUNDLE_BUDGET_MS, BUNDLE_MAX_RUNS } from '../../src/pool/bundles.js';
import { TaskPool } from '../../src/pool/task-pool.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeWorkerThreads } from '../helpers/fake-worker-threads.js';

const settle = async () => {
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
};

const pools: TaskPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

function setup({ workers = 1, maxQueue = 64 } = {}) {
  const clock = new FakeClock();
  const threads = new FakeWorkerThreads(workers, clock);
  const pool = new TaskPool({ workers, maxQueue, cancelGraceMs: 300, taskFiles: [], clock, createWorkerThreads: threads.create });
  pools.push(pool);
  const submit = (task = 'echo', input: unknown = null) => pool.run({ name: task, file: `/tasks/${task}.js` }, input, new Uint8Array(0));
  /** Worker `worker` runs its next run for `ms` of clock time. */
  const runFor = (worker: number, ms: number, output: unknown = 'ok') => {
    const id = threads.start(worker);
    clock.advance(ms);
    threads.finish(worker, output);
    return id;
  };
  /** Teaches the pool how long `task` runs: one run of it, alone on worker 0. */
  const learn = async (task: string, ms: number) => {
    submit(task);
    runFor(0, ms);
    await settle();
  };
  /** Runs everything the worker holds and everything dispatched after, each for `ms`. */
  const drain = async (ms: number, output: unknown = 'ok') => {
    while (threads.holding()[0]!.length > 0) {
      runFor(0, ms, output);
      await settle();
    }
  };
  return { clock, threads, pool, submit, runFor, learn, drain };
}

describe('bundles of short runs', () => {
  it('hands a task that never ran here over alone, with nothing sent behind it in the same message', () => {
    const { threads, submit } = setup();
    for (let i = 0; i < 5; i++) submit();
    expect(threads.bundles).toEqual([]);
    expect(threads.holding()).toEqual([[1, 2]]);
  });

  it('sends the short runs waiting in the queue in one message once a worker has room, in the queue order', async () => {
    const { threads, submit, runFor, learn } = setup();
    await learn('echo', 0.01);
    const jobs = Array.from({ length: 8 }, (_, i) => submit('echo', i));
    // Two went alone (the worker had room for two hand-overs); the other six waited and go together.
    expect(threads.bundles).toEqual([]);
    runFor(0, 0.01);
    await settle();
    expect(threads.bundles).toEqual([jobs.slice(2).map((job) => job.id)]);
    while (threads.holding()[0]!.length > 0) runFor(0, 0.01);
    await settle();
    expect(jobs.map((job) => job.state)).toEqual(Array(8).fill('succeeded'));
  });

  it('answers every run of a bundle with its own reply, Started included', async () => {
    const { threads, submit, runFor, learn } = setup();
    await learn('echo', 0.01);
    const jobs = [1, 2, 3, 4].map((n) => submit('echo', n));
    runFor(0, 0.01, 'first');
    await settle();
    const [third, fourth] = [jobs[2]!, jobs[3]!];
    const events: string[] = [];
    const reading = (async () => {
      for await (const event of third.follow()) events.push(event.type);
    })();
    runFor(0, 0.01, 'second');
    runFor(0, 0.01, 'third');
    expect(third.state).toBe('running'); // its reply waits for the fourth's
    runFor(0, 0.01, 'fourth');
    await settle();
    await reading;
    expect(threads.bundles).toEqual([[third.id, fourth.id]]);
    expect(events).toEqual(['started', 'result']);
    expect((await fourth.follow().result()).output).toBe('fourth');
  });

  it('never bundles a task expected to run long, and stops a bundle at it: it goes next, alone', async () => {
    const { threads, submit, runFor, learn } = setup();
    await learn('echo', 0.01);
    await learn('spin', 50);
    const order = ['echo', 'echo', 'echo', 'echo', 'spin', 'echo', 'echo'].map((task) => submit(task));
    runFor(0, 0.01);
    await settle();
    expect(threads.bundles).toEqual([[order[2]!.id, order[3]!.id]]);
    runFor(0, 0.01);
    runFor(0, 0.01);
    runFor(0, 0.01);
    await settle();
    // spin went alone; the echoes after it go together.
    expect(threads.bundles).toEqual([[order[2]!.id, order[3]!.id], [order[5]!.id, order[6]!.id]]);
    expect(threads.holding()[0]).toEqual([order[4]!.id, order[5]!.id, order[6]!.id]);
  });

  it(`puts at most ${BUNDLE_BUDGET_MS} ms of expected work and ${BUNDLE_MAX_RUNS} runs in one bundle`, async () => {
    const { threads, submit, runFor, learn, drain } = setup({ maxQueue: 100 });
    await learn('half', 0.5);
    await learn('echo', 0.001);
    for (let i = 0; i < 8; i++) submit('half');
    runFor(0, 0.5);
    await settle();
    expect(threads.bundles.map((ids) => ids.length)).toEqual([BUNDLE_BUDGET_MS / 0.5]);
    await drain(0.5);
    threads.bundles.splice(0);
    for (let i = 0; i < 2 + BUNDLE_MAX_RUNS + 5; i++) submit('echo');
    runFor(0, 0.001);
    await settle();
    expect(threads.bundles.map((ids) => ids.length)).toEqual([BUNDLE_MAX_RUNS]);
  });

  it('runs again the runs of a bundle whose worker died holding their replies, and those not started, alone; only the run it died in fails', async () => {
    const { threads, submit, runFor, learn, drain } = setup();
    await learn('echo', 0.01);
    const jobs = [1, 2, 3, 4, 5, 6].map((n) => submit('echo', n));
    runFor(0, 0.01);
    runFor(0, 0.01);
    await settle();
    // Bundle [3, 4, 5, 6]: 3 and 4 ran (replies held), 5 is running when the worker dies, 6 never started.
    runFor(0, 0.01, 'three');
    runFor(0, 0.01, 'four');
    threads.start(0);
    threads.crash(0);
    await settle();
    await expect(jobs[4]!.follow().result()).rejects.toMatchObject({ code: Status.INTERNAL });
    // Back in their order, each alone now that a run of their task killed a worker.
    expect(threads.holding()).toEqual([[jobs[2]!.id, jobs[3]!.id]]);
    expect(jobs[5]!.state).toBe('queued');
    await drain(0.01, 'again');
    expect(threads.bundles).toHaveLength(1);
    expect((await jobs[2]!.follow().result()).output).toBe('again');
    expect(jobs[5]!.state).toBe('succeeded');
  });

  it('skips a run of a bundle cancelled before it started, and runs the rest', async () => {
    const { threads, submit, runFor, learn } = setup();
    await learn('echo', 0.01);
    const jobs = [1, 2, 3, 4, 5].map((n) => submit('echo', n));
    runFor(0, 0.01);
    await settle();
    const cancelled = jobs[3]!;
    cancelled.cancel(new Error('gone') as never);
    await settle();
    expect(cancelled.state).toBe('cancelled');
    while (threads.holding()[0]!.length > 0) {
      if (threads.start(0) !== undefined) threads.finish(0, 'ok');
    }
    await settle();
    expect(threads.log.filter((line) => line.includes('skipped'))).toEqual([`worker 0 skipped job ${cancelled.id}`]);
    expect(jobs.filter((job) => job !== cancelled).map((job) => job.state)).toEqual(Array(4).fill('succeeded'));
  });
});
