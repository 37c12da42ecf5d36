import { Status } from 'nice-grpc';
import { describe, expect, it } from 'vitest';
import { collect, rejection } from '../helpers/client.js';
import { useServerPerTest } from '../helpers/use-server.js';

const t = useServerPerTest();

describe('message sizes', () => {
  it('carries a 20 MiB payload both ways under the default limit', async () => {
    await t.start();
    const data = Buffer.alloc(20 * 1024 * 1024, 7);
    const { result } = await t.client.run({ task: 'echo', data });
    expect(Buffer.compare(Buffer.from(result!.data), data)).toBe(0);
  });

  it('refuses a request larger than --max-message-bytes with RESOURCE_EXHAUSTED', async () => {
    await t.start(['--max-message-bytes', String(1024 * 1024)]);
    const error = await rejection(t.client.run({ task: 'sha256', data: Buffer.alloc(2 * 1024 * 1024) }));
    expect(error.code).toBe(Status.RESOURCE_EXHAUSTED);
    // The server is unharmed.
    const { result } = await t.client.run({ task: 'echo', input: 'still here' });
    expect(result?.output).toBe('still here');
  });

  it('fails a response larger than --max-message-bytes instead of sending it', async () => {
    await t.start(['--max-message-bytes', String(1024 * 1024)]);
    const error = await rejection(t.client.run({ task: 'echo', input: 'x'.repeat(600 * 1024), data: Buffer.alloc(600 * 1024) }));
    expect(error.code).toBe(Status.RESOURCE_EXHAUSTED);
  });
});

describe('progress', () => {
  it('coalesces a flood of progress reports and still ends on the final fraction and the result', async () => {
    await t.start();
    const events = await collect(t.client.runStream({ task: 'spin', input: { ms: 100, steps: 10000 } }));
    const progress = events.filter((e) => e.progress);
    expect(progress.length).toBeLessThan(10000);
    expect(progress.at(-1)?.progress).toEqual({ fraction: 1, message: 'step 10000 of 10000' });
    expect(events.at(-1)?.result?.output).toEqual({ ms: 100 });
  });

  it('reaches a task waiting on timers, which stops through its signal', async () => {
    await t.start(['--workers', '1', '--cancel-grace-ms', '30000']);
    const controller = new AbortController();
    const stream = t.client.runStream({ task: 'fixture.wait', input: { ms: 60000 } }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await expect(collect(stream)).rejects.toThrow();
    const { result } = await t.client.run({ task: 'spin', input: { ms: 1 } }, { deadline: 5000 });
    expect(result?.output).toEqual({ ms: 1 });
  });
});
