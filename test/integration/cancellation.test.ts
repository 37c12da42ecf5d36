import { Status } from 'nice-grpc';
import { describe, expect, it } from 'vitest';
import { rejection } from '../helpers/client.js';
import { useServerPerTest } from '../helpers/use-server.js';
import { eventually } from '../helpers/eventually.js';

const t = useServerPerTest();

describe('with one worker', () => {
  it('a client cancel stops the running task and the next task runs at once', async () => {
    await t.start(['--workers', '1', '--cancel-grace-ms', '30000']);
    const controller = new AbortController();
    const long = t.client.run({ task: 'spin', input: { ms: 60000 } }, { signal: controller.signal });
    await eventually(() => expect(t.server.pool.stats.running).toBe(1));
    controller.abort();
    await expect(long).rejects.toThrow();
    const { result } = await t.client.run({ task: 'spin', input: { ms: 10 } });
    // The 30 s grace proves the cooperative path: nothing was terminated to free the worker.
    expect(result?.queuedMs).toBeLessThan(5000);
  });

  it('a deadline gives DEADLINE_EXCEEDED and frees the worker for the next task', async () => {
    await t.start(['--workers', '1']);
    const error = await rejection(t.client.run({ task: 'spin', input: { ms: 60000 } }, { deadline: 200 }));
    expect(error.code).toBe(Status.DEADLINE_EXCEEDED);
    await eventually(() => expect(t.server.pool.stats).toMatchObject({ running: 0, queued: 0 }));
    const { result } = await t.client.run({ task: 'spin', input: { ms: 10 } });
    expect(result?.output).toEqual({ ms: 10 });
  });

  it('a task that ignores its signal loses its worker after --cancel-grace-ms, and a new worker takes the next task', async () => {
    await t.start(['--workers', '1', '--cancel-grace-ms', '200']);
    const error = await rejection(t.client.run({ task: 'fixture.stubborn', input: { ms: 60000 } }, { deadline: 200 }));
    expect(error.code).toBe(Status.DEADLINE_EXCEEDED);
    const { result } = await t.client.run({ task: 'spin', input: { ms: 10 } }, { deadline: 10_000 });
    expect(result?.output).toEqual({ ms: 10 });
  });

  it('a cancelled queued task leaves the queue without running', async () => {
    await t.start(['--workers', '1']);
    const running = t.client.run({ task: 'spin', input: { ms: 500 } });
    await eventually(() => expect(t.server.pool.stats.running).toBe(1));
    const controller = new AbortController();
    const queued = t.client.run({ task: 'fixture.stubborn', input: { ms: 60000 } }, { signal: controller.signal });
    await eventually(() => expect(t.server.pool.stats.queued).toBe(1));
    controller.abort();
    await expect(queued).rejects.toThrow();
    await eventually(() => expect(t.server.pool.stats.queued).toBe(0));
    await running;
    // Had the stubborn task run, this would wait a minute.
    const { result } = await t.client.run({ task: 'spin', input: { ms: 10 } }, { deadline: 5000 });
    expect(result?.output).toEqual({ ms: 10 });
  });

  it('a cancelled stream stops its task', async () => {
    await t.start(['--workers', '1', '--cancel-grace-ms', '30000']);
    const controller = new AbortController();
    const stream = t.client.runStream({ task: 'spin', input: { ms: 60000, steps: 600 } }, { signal: controller.signal });
    await expect(
      (async () => {
        for await (const event of stream) if (event.progress) controller.abort();
      })(),
    ).rejects.toThrow();
    await eventually(() => expect(t.server.pool.stats).toMatchObject({ running: 0, queued: 0 }));
  });
});

describe('admission control', () => {
  it('refuses a call with RESOURCE_EXHAUSTED at once when the queue is full', async () => {
    await t.start(['--workers', '1', '--max-queue', '1']);
    const running = t.client.run({ task: 'spin', input: { ms: 400 } });
    const queued = t.client.run({ task: 'spin', input: { ms: 1 } });
    await eventually(() => expect(t.server.pool.stats).toMatchObject({ running: 1, queued: 1 }));
    const error = await rejection(t.client.run({ task: 'spin', input: { ms: 1 } }));
    expect(error.code).toBe(Status.RESOURCE_EXHAUSTED);
    await Promise.all([running, queued]);
  });
});

describe('the event loop', () => {
  it('answers ListTasks while every worker is busy computing', async () => {
    await t.start(['--workers', '2']);
    let spinsDone = 0;
    const spins = [1, 2].map(() => t.client.run({ task: 'spin', input: { ms: 1500 } }).then(() => spinsDone++));
    await eventually(() => expect(t.server.pool.stats.running).toBe(2));
    for (let i = 0; i < 5; i++) {
      const { tasks } = await t.client.listTasks({});
      expect(tasks.length).toBeGreaterThan(0);
    }
    expect(spinsDone).toBe(0);
    await Promise.all(spins);
  });
});
