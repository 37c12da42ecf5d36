import { describe, expect, it } from 'vitest';
import { Errors, Status } from '../../src/errors.js';
import { Priority } from '../../src/gen/offload/v1/compute.js';
import { rejection } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { useServerPerTest } from '../helpers/use-server.js';

describe('priorities', () => {
  const current = useServerPerTest();

  /**
   * Runs `fixture.wait` (100 ms) as a stream and says when its Started arrived: every run's
   * Started takes the same way back, so their order is the order they started in on the worker.
   */
  const startedAt = async (priority: Priority, label: string): Promise<{ label: string; at: number }> => {
    let at = Number.NaN;
    for await (const event of current.client.runStream({ task: 'fixture.wait', input: { ms: 100 }, priority })) {
      if (event.started) at = performance.now();
    }
    return { label, at };
  };

  /**
   * Occupies the only worker until released: a cancelled wait, so the test and not a timer says
   * when the worker frees up (a timed run ended early on a loaded machine, before the others queued).
   */
  const occupy = async (): Promise<() => Promise<void>> => {
    const controller = new AbortController();
    const busy = current.client.run({ task: 'fixture.wait', input: { ms: 600_000 } }, { signal: controller.signal }).catch(() => undefined);
    await eventually(() => expect(current.server.pool.stats.running).toBe(1));
    return async () => {
      controller.abort();
      await busy;
    };
  };

  const waiting = (): number => current.server.pool.stats.queued;

  it('start a queued high run before the low ones queued earlier, even the one sent ahead to the busy worker', async () => {
    await current.start(['--workers', '1']);
    const release = await occupy();
    const lows = Array.from({ length: 10 }, (_, i) => startedAt(Priority.PRIORITY_LOW, `low ${i}`));
    await eventually(() => expect(waiting()).toBe(10));
    const high = startedAt(Priority.PRIORITY_HIGH, 'high');
    await eventually(() => expect(waiting()).toBe(11));
    await release();
    const order = (await Promise.all([...lows, high])).sort((a, b) => a.at - b.at).map((s) => s.label);
    expect(order[0]).toBe('high');
  });

  it('treat a low run that waited --priority-aging-ms as normal, ahead of normal runs queued after it', async () => {
    await current.start(['--workers', '1', '--priority-aging-ms', '200']);
    const release = await occupy();
    const low = startedAt(Priority.PRIORITY_LOW, 'low');
    await eventually(() => expect(waiting()).toBe(1));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const normals = [1, 2].map((n) => startedAt(Priority.PRIORITY_NORMAL, `normal ${n}`));
    await eventually(() => expect(waiting()).toBe(3));
    await release();
    const order = (await Promise.all([low, ...normals])).sort((a, b) => a.at - b.at).map((s) => s.label);
    expect(order[0]).toBe('low');
  });

  it('refuse a priority outside the enum with INVALID_ARGUMENT', async () => {
    await current.start();
    const error = await rejection(current.client.run({ task: 'echo', priority: 7 as Priority }));
    expect(error).toMatchObject({ code: Status.INVALID_ARGUMENT, details: Errors.invalidPriority(7).message });
  });
});
