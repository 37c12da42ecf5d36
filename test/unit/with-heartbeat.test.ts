import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { OffloadError, Status } from '../../src/errors.js';
import type { TaskEvent } from '../../src/pool/follower.js';
import { readWithHeartbeat, withHeartbeat } from '../../src/server/with-heartbeat.js';
import { createJob, result } from '../helpers/jobs.js';

async function* timed<T>(items: Array<[number, T]>): AsyncGenerator<T> {
  for (const [delayMs, item] of items) {
    await sleep(delayMs);
    yield item;
  }
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe('withHeartbeat', () => {
  it('relays every item in order and sends no heartbeat while items keep coming', async () => {
    const items = Array.from({ length: 50 }, (_, i): [number, string] => [i % 5 === 0 ? 2 : 0, `item ${i}`]);
    expect(await collect(withHeartbeat(timed(items), 200, () => 'beat'))).toEqual(items.map(([, item]) => item));
  });

  it('fills each silence with heartbeats, one per interval', async () => {
    const out = await collect(withHeartbeat(timed([[0, 'a'], [450, 'b']]), 100, () => 'beat'));
    expect(out[0]).toBe('a');
    expect(out.at(-1)).toBe('b');
    // About four intervals of silence; timers on a busy machine may fire late, never early.
    const beats = out.filter((x) => x === 'beat').length;
    expect(beats).toBeGreaterThanOrEqual(2);
    expect(beats).toBeLessThanOrEqual(4);
  });

  it('skips a heartbeat when there is nothing to say', async () => {
    expect(await collect(withHeartbeat(timed([[250, 'a']]), 50, () => undefined))).toEqual(['a']);
  });

  it('passes the source error on after the items before it', async () => {
    async function* failing(): AsyncGenerator<string> {
      yield 'a';
      await sleep(10);
      throw new Error('boom');
    }
    const out: string[] = [];
    await expect(
      (async () => {
        for await (const item of withHeartbeat(failing(), 1000, () => 'beat')) out.push(item);
      })(),
    ).rejects.toThrow('boom');
    expect(out).toEqual(['a']);
  });

  it('ends the source when the reader stops early, without waiting for its next item', async () => {
    let returned = false;
    async function* endless(): AsyncGenerator<number> {
      try {
        for (let i = 0; ; i++) {
          yield i;
          await sleep(5);
        }
      } finally {
        returned = true;
      }
    }
    for await (const n of withHeartbeat(endless(), 1000, () => -1)) if (n === 3) break;
    await sleep(20);
    expect(returned).toBe(true);
  });
});

describe('readWithHeartbeat', () => {
  const beat = (): TaskEvent => ({ type: 'progress', fraction: -1, message: 'beat' });
  const started = () => {
    const job = createJob();
    job.sent();
    job.running(Date.now());
    job.publish({ type: 'started', queuedMs: 0 });
    return job;
  };

  it('relays a follower\'s events as they come and ends after the result', async () => {
    const job = started();
    const reading = collect(readWithHeartbeat((onReadable) => job.follow().watch(onReadable), 1000, beat));
    await sleep(5);
    job.publish({ type: 'progress', fraction: 0.5, message: 'half' });
    await sleep(5);
    job.settle({ result: result('done') });
    expect(await reading).toEqual([{ type: 'started', queuedMs: 0 }, { type: 'progress', fraction: 0.5, message: 'half' }, result('done')]);
  });

  it('fills a silence with heartbeats, one per interval', async () => {
    const job = started();
    const reading = collect(readWithHeartbeat((onReadable) => job.follow().watch(onReadable), 100, beat));
    await sleep(450);
    job.settle({ result: result('done') });
    const out = await reading;
    // About four intervals of silence; timers on a busy machine may fire late, never early.
    const beats = out.filter((event) => event.type === 'progress').length;
    expect(beats).toBeGreaterThanOrEqual(2);
    expect(beats).toBeLessThanOrEqual(4);
    expect(out.at(-1)).toEqual(result('done'));
  });

  it('throws the job\'s failure after the events before it', async () => {
    const job = started();
    const failure = new OffloadError(Status.RESOURCE_EXHAUSTED, 'out of memory');
    const out: TaskEvent[] = [];
    const reading = (async () => {
      for await (const event of readWithHeartbeat((onReadable) => job.follow().watch(onReadable), 1000, beat)) out.push(event);
    })();
    job.settle({ error: failure });
    await expect(reading).rejects.toBe(failure);
    expect(out).toEqual([{ type: 'started', queuedMs: 0 }]);
  });

  it('stops following when the reader stops early', async () => {
    const job = started();
    for await (const event of readWithHeartbeat((onReadable) => job.follow().watch(onReadable), 1000, beat)) {
      expect(event.type).toBe('started');
      expect(job.followers).toBe(1);
      break;
    }
    expect(job.followers).toBe(0);
  });
});
