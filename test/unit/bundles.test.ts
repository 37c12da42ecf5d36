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
  it('hands a task that never ran here over alone, with nothing sent behind it in the same message', async () => {
    const { threads, submit } = setup();
    for (let i = 0; i < 5; i++) submit();
    await settle();
    expect(threads.bundles).toEqual([]);
    expect(threads.holding()).toEqual([[1, 2]]);
  });

  it('hands the first job to an idle pool at once, and the short runs admitted with it in the same turn in one message', async () => {
    const { threads, submit, learn, drain } = setup();
    await learn('echo', 0.01);
    const jobs = Array.from({ length: 8 }, (_, i) => submit('echo', i));
    expect(threads.holding()).toEqual([[jobs[0]!.id]]);
    await settle();
    expect(threads.bundles).toEqual([jobs.slice(1).map((job) => job.id)]);
    await drain(0.01);
    expect(jobs.map((job) => job.state)).toEqual(Array(8).fill('succeeded'));
  });

  it('sends the short runs waiting in the queue in one message once a worker has room, in the queue order', async () => {
    const { threads, submit, runFor, learn, drain } = setup();
    await learn('spin', 50);
    await learn('echo', 0.01);
    // Two long runs fill the worker's two places; the echoes wait.
    submit('spin');
    submit('spin');
    const jobs = Array.from({ length: 6 }, (_, i) => submit('echo', i));
    await settle();
    expect(threads.bundles).toEqual([]);
    runFor(0, 50);
    await settle();
    expect(threads.bundles).toEqual([jobs.map((job) => job.id)]);
    await drain(0.01);
    expect(jobs.map((job) => job.state)).toEqual(Array(6).fill('succeeded'));
  });

  it('answers every run of a bundle with its own reply, Started included', async () => {
    const { threads, submit, runFor, learn } = setup();
    await learn('echo', 0.01);
    const jobs = [1, 2, 3, 4].map((n) => submit('echo', n));
    await settle();
    const [, second, third, fourth] = jobs as [unknown, (typeof jobs)[number], (typeof jobs)[number], (typeof jobs)[number]];
    expect(threads.bundles).toEqual([[second.id, third.id, fourth.id]]);
    const events: string[] = [];
    const reading = (async () => {
      for await (const event of third.follow()) events.push(event.type);
    })();
    runFor(0, 0.01, 'first');
    runFor(0, 0.01, 'second');
    runFor(0, 0.01, 'third');
    expect(third.state).toBe('running'); // its reply waits for the fourth's
    runFor(0, 0.01, 'fourth');
    await settle();
    await reading;
    expect(events).toEqual(['started', 'result']);
    expect((await fourth.follow().result()).output).toBe('fourth');
  });

  it('never bundles a task expected to run long, and stops a bundle at it: it goes next, alone', async () => {
    const { threads, submit, runFor, learn } = setup();
    await learn('echo', 0.01);
    await learn('spin', 50);
    const order = ['echo', 'echo', 'echo', 'echo', 'spin', 'echo', 'echo'].map((task) => submit(task));
    const ids = order.map((job) => job.id);
    await settle();
    expect(threads.bundles).toEqual([ids.slice(1, 4)]);
    runFor(0, 0.01);
    await settle();
    expect(threads.holding()[0]).toEqual([...ids.slice(1, 4), ids[4]]);
    for (let i = 0; i < 3; i++) runFor(0, 0.01);
    await settle();
    // spin went alone; the echoes after it go together.
    expect(threads.bundles).toEqual([ids.slice(1, 4), ids.slice(5)]);
    expect(threads.holding()[0]).toEqual(ids.slice(4));
  });

  it(`puts at most ${BUNDLE_BUDGET_MS} ms of expected work and ${BUNDLE_MAX_RUNS} runs in one bundle`, async () => {
    const { threads, submit, learn, drain } = setup({ maxQueue: 100 });
    await learn('half', 0.5);
    await learn('echo', 0.001);
    for (let i = 0; i < 8; i++) submit('half');
    await settle();
    expect(threads.bundles.map((ids) => ids.length)).toEqual([BUNDLE_BUDGET_MS / 0.5]);
    await drain(0.5);
    threads.bundles.splice(0);
    for (let i = 0; i < 1 + BUNDLE_MAX_RUNS + 5; i++) submit('echo');
    await settle();
    expect(threads.bundles.map((ids) => ids.length)).toEqual([BUNDLE_MAX_RUNS]);
  });

  it('runs again the runs of a bundle whose worker died holding their replies, and those not started, alone; only the run it died in fails', async () => {
    const { threads, submit, runFor, learn, drain } = setup();
    await learn('echo', 0.01);
    const jobs = [0, 1, 2, 3, 4, 5].map((n) => submit('echo', n));
    await settle();
    runFor(0, 0.01);
    // The bundle [1, 2, 3, 4, 5]: 1 and 2 ran (their replies held), 3 is running when the worker dies, 4 and 5 never started.
    runFor(0, 0.01, 'one');
    runFor(0, 0.01, 'two');
    threads.start(0);
    threads.crash(0);
    await settle();
    await expect(jobs[3]!.follow().result()).rejects.toMatchObject({ code: Status.INTERNAL });
    // Back in their order, each alone now that a run of their task killed a worker.
    expect(threads.holding()).toEqual([[jobs[1]!.id, jobs[2]!.id]]);
    expect([jobs[4]!.state, jobs[5]!.state]).toEqual(['queued', 'queued']);
    await drain(0.01, 'again');
    expect(threads.bundles).toHaveLength(1);
    expect((await jobs[1]!.follow().result()).output).toBe('again');
    expect(jobs.filter((job) => job !== jobs[3]).map((job) => job.state)).toEqual(Array(5).fill('succeeded'));
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
