import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { Errors, OffloadError, Status } from '../../src/errors.js';
import { TaskPool } from '../../src/pool/task-pool.js';
import type { TaskEvent } from '../../src/pool/follower.js';
import { bundledTasksDir } from '../../src/pool/worker-entry.js';
import { fixtureTasksDir } from '../helpers/start-server.js';
import { eventually } from '../helpers/eventually.js';

const spin = { name: 'spin', file: join(bundledTasksDir, 'spin.ts') };
const stubborn = { name: 'fixture.stubborn', file: join(fixtureTasksDir, 'stubborn.ts') };
const exit = { name: 'fixture.exit', file: join(fixtureTasksDir, 'exit.ts') };
const none = new Uint8Array(0);

let pool: TaskPool;
function createPool(options: Partial<ConstructorParameters<typeof TaskPool>[0]> = {}): TaskPool {
  pool = new TaskPool({ workers: 1, maxQueue: 4, cancelGraceMs: 100, taskFiles: [spin.file], ...options });
  return pool;
}
afterEach(() => pool?.close());

describe('TaskPool (the bridge)', () => {
  it('runs a task in a worker and streams started, progress and the result', async () => {
    createPool();
    const events: TaskEvent[] = [];
    for await (const event of pool.run(spin, { ms: 30, steps: 3 }, none).follow()) events.push(event);
    expect(events[0]).toMatchObject({ type: 'started' });
    expect(events.filter((e) => e.type === 'progress').length).toBeGreaterThanOrEqual(1);
    expect(events.at(-1)).toMatchObject({ type: 'result', output: { ms: 30 } });
  });

  it('refuses work at once when every worker is busy and the queue is full', async () => {
    createPool({ workers: 1, maxQueue: 1 });
    const running = pool.run(spin, { ms: 300, steps: 1 }, none);
    const queued = pool.run(spin, { ms: 1, steps: 1 }, none);
    expect(() => pool.run(spin, { ms: 1, steps: 1 }, none)).toThrow(
      expect.objectContaining({ code: Status.RESOURCE_EXHAUSTED }),
    );
    await Promise.all([running.follow().result(), queued.follow().result()]);
  });

  it('takes a cancelled task out of the queue without running it', async () => {
    createPool();
    const running = pool.run(spin, { ms: 1500, steps: 1 }, none);
    await eventually(() => expect(pool.stats.running).toBe(1));
    const controller = new AbortController();
    const queued = pool.run(spin, { ms: 5000, steps: 1 }, none, { signal: controller.signal });
    controller.abort(new OffloadError(Status.CANCELLED, 'gone'));
    await expect(queued.follow().result()).rejects.toMatchObject({ code: Status.CANCELLED });
    expect(pool.stats).toMatchObject({ running: 1, queued: 0 });
    await running.follow().result();
  });

  it('stops a busy cooperative task through its signal long before the grace period would end', async () => {
    // With a 10 s grace, finishing within the 5 s test timeout means the task itself stopped.
    createPool({ cancelGraceMs: 10_000 });
    const controller = new AbortController();
    const run = pool.run(spin, { ms: 20_000, steps: 1 }, none, { signal: controller.signal });
    await eventually(() => expect(pool.stats.running).toBe(1));
    controller.abort(new OffloadError(Status.DEADLINE_EXCEEDED, 'late'));
    await expect(run.follow().result()).rejects.toMatchObject({ code: Status.DEADLINE_EXCEEDED, message: 'late' });
    expect(pool.stats).toMatchObject({ running: 0, queued: 0 });
  }, 5_000);

  it('terminates a worker whose task ignores its signal after the grace period, then runs the next task', async () => {
    createPool({ cancelGraceMs: 100, taskFiles: [spin.file, stubborn.file] });
    const controller = new AbortController();
    const run = pool.run(stubborn, { ms: 20_000 }, none, { signal: controller.signal });
    const next = pool.run(spin, { ms: 1, steps: 1 }, none);
    setTimeout(() => controller.abort(), 100);
    await expect(run.follow().result()).rejects.toMatchObject({ code: Status.CANCELLED });
    await expect(next.follow().result()).resolves.toMatchObject({ output: { ms: 1 } });
  }, 5_000);

  it('fails only the call whose task kills its worker, and the pool carries on', async () => {
    createPool({ taskFiles: [spin.file, exit.file] });
    await expect(pool.run(exit, {}, none).follow().result()).rejects.toMatchObject({
      code: Status.INTERNAL,
      message: Errors.workerStopped('fixture.exit').message,
    });
    await expect(pool.run(spin, { ms: 1, steps: 1 }, none).follow().result()).resolves.toMatchObject({ output: { ms: 1 } });
  });

  it('gives each worker its next run before the current one ends, and a cancel of that waiting run ends it at once', async () => {
    createPool({ workers: 1 });
    const long = pool.run(spin, { ms: 1500, steps: 1 }, none);
    await eventually(() => expect(pool.stats.running).toBe(1));
    const controller = new AbortController();
    const waiting = pool.run(spin, { ms: 1, steps: 1 }, none, { signal: controller.signal });
    const cancelledAt = performance.now();
    controller.abort(new OffloadError(Status.DEADLINE_EXCEEDED, 'late'));
    await expect(waiting.follow().result()).rejects.toMatchObject({ code: Status.DEADLINE_EXCEEDED });
    // Not held until the long run ends, though the worker already holds it.
    expect(performance.now() - cancelledAt).toBeLessThan(500);
    await expect(long.follow().result()).resolves.toMatchObject({ output: { ms: 1500 } });
    await expect(pool.run(spin, { ms: 1, steps: 1 }, none).follow().result()).resolves.toMatchObject({ output: { ms: 1 } });
  });

  it('moves a run waiting behind a long one to a worker that has gone idle', async () => {
    createPool({ workers: 2 });
    // A worker still starting would take neither run: both would queue on the other one.
    await pool.ready();
    const long = pool.run(spin, { ms: 2000, steps: 1 }, none);
    const short = pool.run(spin, { ms: 100, steps: 1 }, none);
    await eventually(() => expect(pool.stats.running).toBe(2));
    // Each worker now takes one of these ahead of time: one waits behind the long run.
    const next = [pool.run(spin, { ms: 1, steps: 1 }, none), pool.run(spin, { ms: 1, steps: 1 }, none)];
    const longDone = long.follow().result().then(() => performance.now());
    const nextDone = Promise.all(next.map((run) => run.follow().result())).then(() => performance.now());
    await short.follow().result();
    expect(await nextDone).toBeLessThan(await longDone);
  });

  it('runs a task that waited behind a crashing one on the replacement worker instead of failing it', async () => {
    createPool({ workers: 1, taskFiles: [spin.file, exit.file] });
    const crashing = pool.run(exit, {}, none);
    const innocent = pool.run(spin, { ms: 1, steps: 1 }, none);
    await expect(crashing.follow().result()).rejects.toMatchObject({ code: Status.INTERNAL });
    await expect(innocent.follow().result()).resolves.toMatchObject({ output: { ms: 1 } });
  });

  it('runs a task that waited behind a task evicted after the cancel grace on the replacement worker', async () => {
    createPool({ workers: 1, cancelGraceMs: 100, taskFiles: [spin.file, stubborn.file] });
    const controller = new AbortController();
    const stubbornRun = pool.run(stubborn, { ms: 20_000 }, none, { signal: controller.signal });
    await eventually(() => expect(pool.stats.running).toBe(1));
    const innocent = pool.run(spin, { ms: 1, steps: 1 }, none);
    controller.abort();
    await expect(stubbornRun.follow().result()).rejects.toMatchObject({ code: Status.CANCELLED });
    await expect(innocent.follow().result()).resolves.toMatchObject({ output: { ms: 1 } });
  }, 5_000);
});

describe('TaskPool data hand-over', () => {
  const sha256 = { name: 'sha256', file: join(bundledTasksDir, 'sha256.ts') };

  it('moves the buffer of a large request to the worker instead of copying it, when the caller hands it over', async () => {
    createPool({ taskFiles: [sha256.file] });
    const message = randomBytes(1024 * 1024 + 16);
    const data = new Uint8Array(message.buffer, message.byteOffset + 16, 1024 * 1024);
    const hex = createHash('sha256').update(data).digest('hex');
    await expect(pool.run(sha256, {}, data, { handOverData: true }).follow().result()).resolves.toMatchObject({ output: { hex } });
    expect(message.buffer.byteLength).toBe(0); // transferred: detached here
  });

  it('copies bytes that fill only part of their buffer, leaving the rest of it untouched', async () => {
    createPool({ taskFiles: [sha256.file] });
    const message = randomBytes(1024 * 1024);
    const before = Buffer.from(message);
    const data = message.subarray(0, 200 * 1024);
    const hex = createHash('sha256').update(data).digest('hex');
    await expect(pool.run(sha256, {}, data, { handOverData: true }).follow().result()).resolves.toMatchObject({ output: { hex } });
    expect(message.equals(before)).toBe(true);
  });

  it('copies the bytes when the caller does not hand them over', async () => {
    createPool({ taskFiles: [sha256.file] });
    const data = randomBytes(1024 * 1024);
    const hex = createHash('sha256').update(data).digest('hex');
    await expect(pool.run(sha256, {}, data).follow().result()).resolves.toMatchObject({ output: { hex } });
    expect(createHash('sha256').update(data).digest('hex')).toBe(hex);
  });
});
