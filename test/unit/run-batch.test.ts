import { describe, expect, it } from 'vitest';
import { OffloadError, Status } from '../../src/errors.js';
import type { RunBatchRequest, RunBatchResponse } from '../../src/gen/offload/v1/compute.js';
import type { TaskEvent } from '../../src/pool/follower.js';
import type { Job } from '../../src/pool/job.js';
import { createJob, succeed } from '../helpers/jobs.js';
import { runBatch } from '../../src/server/run-batch.js';
import { batchWindow } from '../../src/server/batch-window.js';
import { eventually } from '../helpers/eventually.js';

function item(id: string, task = 'ok'): RunBatchRequest {
  return { id, task, input: null, data: Buffer.alloc(0), noCache: false, priority: 0 };
}

describe('runBatch', () => {
  it('never reads more items than its window while earlier ones are unfinished', async () => {
    let pulled = 0;
    let maxAhead = 0;
    let finished = 0;
    const runs: Job[] = [];
    async function* requests(): AsyncGenerator<RunBatchRequest> {
      for (let i = 0; i < 50; i++) {
        pulled++;
        maxAhead = Math.max(maxAhead, pulled - finished);
        yield item(String(i));
      }
    }
    const start = (): AsyncIterable<TaskEvent> => {
      const job = createJob();
      runs.push(job);
      // Each task finishes a little later, so items pile up if the reader is greedy.
      setTimeout(() => {
        finished++;
        succeed(job);
      }, 2);
      return job.follow();
    };
    const events: RunBatchResponse[] = [];
    for await (const event of runBatch(requests(), { window: 3, start, onServerFault: () => {} })) {
      events.push(event);
    }
    expect(events.filter((e) => e.result)).toHaveLength(50);
    expect(maxAhead).toBeLessThanOrEqual(3);
  });

  it('turns a failing item into a failure event and carries on', async () => {
    async function* requests(): AsyncGenerator<RunBatchRequest> {
      yield item('a', 'missing');
      yield item('b');
    }
    const start = (request: RunBatchRequest): AsyncIterable<TaskEvent> => {
      if (request.task === 'missing') throw new OffloadError(Status.NOT_FOUND, 'unknown task "missing"');
      const job = createJob();
      succeed(job, 'done');
      return job.follow();
    };
    const events: RunBatchResponse[] = [];
    for await (const event of runBatch(requests(), { window: 2, start, onServerFault: () => {} })) {
      events.push(event);
    }
    expect(events).toContainEqual({ id: 'a', failure: { code: Status.NOT_FOUND, message: 'unknown task "missing"' } });
    expect(events.find((e) => e.id === 'b')?.result?.output).toBe('done');
  });

  it('reports unexpected item errors as INTERNAL without their text, and tells the server log', async () => {
    const faults: unknown[] = [];
    async function* requests(): AsyncGenerator<RunBatchRequest> {
      yield item('a');
    }
    const start = (): AsyncIterable<TaskEvent> => {
      throw new TypeError('secret internals');
    };
    const events: RunBatchResponse[] = [];
    for await (const event of runBatch(requests(), { window: 1, start, onServerFault: (_id, e) => faults.push(e) })) {
      events.push(event);
    }
    expect(events).toEqual([{ id: 'a', failure: { code: Status.INTERNAL, message: 'internal error' } }]);
    expect(faults).toHaveLength(1);
  });
});

describe('the RunBatch window', () => {
  const window = batchWindow(2, 32, (task) => ({ echo: 0.01, spin: 50 })[task]);

  it('keeps to one item per worker and one more each before any item, and after one of a long or unknown task', () => {
    expect([window(undefined), window({ task: 'spin' }), window({ task: 'new' })]).toEqual([4, 4, 4]);
  });

  it('takes half the queue after an item of a task known to run short, so its items can cross to the workers together', () => {
    expect(window({ task: 'echo' })).toBe(2 + 16);
    expect(batchWindow(4, 2, () => 0.01)({ task: 'echo' })).toBe(4 + 2);
  });

  it('reads further items as far as the window the item read last allows', async () => {
    let pulled = 0;
    let finished = 0;
    const ahead: number[] = [];
    async function* requests(): AsyncGenerator<RunBatchRequest> {
      for (const task of ['spin', 'spin', 'spin', 'echo', 'echo', 'echo', 'echo', 'echo', 'echo']) {
        pulled++;
        ahead.push(pulled - finished);
        yield item(String(pulled), task);
      }
    }
    const unfinished: Job[] = [];
    const start = (): AsyncIterable<TaskEvent> => {
      const job = createJob();
      unfinished.push(job);
      return job.follow();
    };
    const reading = (async () => {
      const events: RunBatchResponse[] = [];
      for await (const event of runBatch(requests(), { window: (previous) => (previous?.task === 'echo' ? 6 : 2), start, onServerFault: () => {} })) events.push(event);
      return events;
    })();
    await eventually(() => expect(pulled).toBe(2));
    succeed(unfinished.shift()!);
    finished++;
    await eventually(() => expect(pulled).toBe(3));
    succeed(unfinished.shift()!);
    finished++;
    // The fourth item is an echo: from then on six may be in flight.
    await eventually(() => expect(pulled).toBe(8));
    expect(Math.max(...ahead)).toBe(6);
    while (unfinished.length > 0) succeed(unfinished.shift()!);
    await eventually(() => expect(pulled).toBe(9));
    await eventually(() => expect(unfinished).toHaveLength(1));
    succeed(unfinished.shift()!);
    expect((await reading).filter((e) => e.result)).toHaveLength(9);
  });
});
