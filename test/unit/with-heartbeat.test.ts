import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { withHeartbeat } from '../../src/server/with-heartbeat.js';

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
