import { Status } from 'nice-grpc';
import { describe, expect, it } from 'vitest';
import { rejection } from '../helpers/client.js';
import { useServerPerTest } from '../helpers/use-server.js';
import { eventually } from '../helpers/eventually.js';
import { Errors } from '../../src/errors.js';

const t = useServerPerTest();

describe('run-time limits', () => {
  it('fails a task that runs past --max-run-ms with DEADLINE_EXCEEDED and frees its worker', async () => {
    await t.start(['--workers', '1', '--max-run-ms', '200']);
    const error = await rejection(t.client.run({ task: 'spin', input: { ms: 5000 } }));
    expect(error).toMatchObject({ code: Status.DEADLINE_EXCEEDED, details: Errors.runLimitExceeded('spin', 200).message });
    const { result } = await t.client.run({ task: 'spin', input: { ms: 10 } });
    expect(result?.output).toEqual({ ms: 10 });
  });

  it('applies a task\'s own timeoutMs when it is below the server maximum', async () => {
    await t.start(['--max-run-ms', '60000']);
    const error = await rejection(t.client.run({ task: 'fixture.limited', input: { ms: 5000 } }));
    expect(error).toMatchObject({ code: Status.DEADLINE_EXCEEDED, details: Errors.runLimitExceeded('fixture.limited', 300).message });
    await expect(t.client.run({ task: 'fixture.limited', input: { ms: 10 } })).resolves.toBeDefined();
  });

  it('fails a task that waits longer than --max-queue-ms with RESOURCE_EXHAUSTED', async () => {
    await t.start(['--workers', '1', '--max-queue-ms', '200']);
    const running = t.client.run({ task: 'spin', input: { ms: 1000 } });
    await eventually(() => expect(t.server.pool.stats.running).toBe(1));
    const error = await rejection(t.client.run({ task: 'spin', input: { ms: 10 } }));
    expect(error.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(error).toMatchObject({ code: Errors.queueWaitExceeded('spin', 200).code, details: Errors.queueWaitExceeded('spin', 200).message });
    await expect(running).resolves.toBeDefined();
  });
});

describe('the worker memory cap', () => {
  it('fails a task that allocates without bound with RESOURCE_EXHAUSTED, alone, and replaces its worker', async () => {
    await t.start(['--workers', '2', '--worker-max-memory-mb', '64']);
    const [hog, healthy] = await Promise.allSettled([
      t.client.run({ task: 'fixture.hog' }),
      t.client.run({ task: 'spin', input: { ms: 300 } }),
    ]);
    expect(hog).toMatchObject({ status: 'rejected', reason: { code: Status.RESOURCE_EXHAUSTED, details: Errors.workerOutOfMemory('fixture.hog', 64).message } });
    expect(healthy).toMatchObject({ status: 'fulfilled', value: { result: { output: { ms: 300 } } } });
    const again = await Promise.all([1, 2].map(() => t.client.run({ task: 'spin', input: { ms: 10 } })));
    expect(again).toHaveLength(2);
  });
});
