import { Status } from 'nice-grpc';
import { describe, expect, it } from 'vitest';
import { collect, rejection } from '../helpers/client.js';
import { useServerPerTest, useSharedServer } from '../helpers/use-server.js';
import { Errors } from '../../src/errors.js';

const t = useSharedServer();

describe('a task that fails', () => {
  it('becomes INTERNAL "task <name> failed: <message>" with no stack on the wire', async () => {
    const error = await rejection(t.client.run({ task: 'fixture.throws', input: { message: 'disk on fire' } }));
    expect(error.code).toBe(Status.INTERNAL);
    expect(error.details).toBe('task fixture.throws failed: disk on fire');
  });

  it('chooses its own status by throwing a TaskError', async () => {
    const error = await rejection(
      t.client.run({ task: 'fixture.task-error', input: { code: 'FAILED_PRECONDITION', message: 'not ready' } }),
    );
    expect(error).toMatchObject({ code: Status.FAILED_PRECONDITION, details: 'not ready' });
  });

  it('fails the same way on a stream', async () => {
    const error = await rejection(collect(t.client.runStream({ task: 'fixture.throws', input: {} })));
    expect(error).toMatchObject({ code: Status.INTERNAL, details: 'task fixture.throws failed: boom' });
  });

  it('fails with INTERNAL when its output is not JSON', async () => {
    const error = await rejection(t.client.run({ task: 'fixture.bad-output' }));
    expect(error.code).toBe(Status.INTERNAL);
    expect(error.details).toBe('task fixture.bad-output failed: output.fn is a function; a task must return JSON values');
  });

  it('fails only its own call when it kills its worker, and the pool replaces the worker', async () => {
    const [crash, healthy] = await Promise.allSettled([
      t.client.run({ task: 'fixture.exit' }),
      t.client.run({ task: 'spin', input: { ms: 100 } }),
    ]);
    expect(crash).toMatchObject({ status: 'rejected', reason: { code: Status.INTERNAL, details: Errors.workerStopped('fixture.exit').message } });
    expect(healthy.status).toBe('fulfilled');
    // Both workers are usable afterwards.
    const after = await Promise.all([1, 2].map(() => t.client.run({ task: 'spin', input: { ms: 20 } })));
    expect(after.map((r): unknown => r.result?.output)).toEqual([{ ms: 20 }, { ms: 20 }]);
  });
});

describe('a task that keeps crashing its worker', () => {
  const crashy = useServerPerTest();

  it('is refused with FAILED_PRECONDITION after --crash-limit crashes in a row, while other tasks run', async () => {
    await crashy.start(['--crash-limit', '2', '--crash-cooldown-ms', '60000']);
    for (let i = 0; i < 2; i++) expect((await rejection(crashy.client.run({ task: 'fixture.exit' }))).code).toBe(Status.INTERNAL);
    const refused = await rejection(crashy.client.run({ task: 'fixture.exit' }));
    expect(refused.code).toBe(Status.FAILED_PRECONDITION);
    expect(refused.details).toMatch(/^task fixture.exit is suspended for \d+ s: it crashed its worker 2 times in a row$/);
    expect((await crashy.client.run({ task: 'spin', input: { ms: 5 } })).result?.output).toEqual({ ms: 5 });
  });
});
