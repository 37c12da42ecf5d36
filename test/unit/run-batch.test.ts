import { describe, expect, it } from 'vitest';
import { OffloadError, Status } from '../../src/errors.js';
import type { RunBatchRequest, RunBatchResponse } from '../../src/gen/offload/v1/compute.js';
import type { Job } from '../../src/pool/job.js';
import { createJob, result, succeed } from '../helpers/jobs.js';
import { runBatch, type ItemSource } from '../../src/server/run-batch.js';
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
    const start = (): ItemSource => {
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
    const start = (request: RunBatchRequest): ItemSource => {
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
    const start = (): ItemSource => {
      throw new TypeError('secret internals');
    };
    const events: RunBatchResponse[] = [];
    for await (const event of runBatch(requests(), { window: 1, start, onServerFault: (_id, e) => faults.push(e) })) {
      events.push(event);
    }
    expect(events).toEqual([{ id: 'a', failure: { code: Status.INTERNAL, message: 'internal error' } }]);
    expect(faults).toHaveLength(1);
  });

  it('gives each item its turn: an item that always has progress unread does not hold back another\'s result', async () => {
    const chatty = createJob();
    const quick = createJob();
    for (const job of [chatty, quick]) {
      job.sent();
      job.running(Date.now());
      job.publish({ type: 'started', queuedMs: 0 });
    }
    async function* requests(): AsyncGenerator<RunBatchRequest> {
      yield item('chatty');
      yield item('quick');
    }
    const start = (request: RunBatchRequest): ItemSource => (request.id === 'chatty' ? chatty : quick).follow();
    const seen: string[] = [];
    for await (const event of runBatch(requests(), { window: 2, start, onServerFault: () => {} })) {
      seen.push(`${event.id}:${event.started ? 'started' : event.progress ? 'progress' : event.result ? 'result' : 'failure'}`);
      if (seen.length === 1) quick.settle({ result: result('q') });
      // Every time chatty is read it has a new progress unread, twenty times over.
      if (event.id !== 'chatty' || event.result) continue;
      if (seen.length < 20) chatty.publish({ type: 'progress', fraction: seen.length / 20, message: '' });
      else chatty.settle({ result: result('c') });
    }
    // Starved, quick's result would come after chatty's twenty events; taking turns, it comes next to its Started.
    expect(seen.indexOf('quick:result') - seen.indexOf('quick:started')).toBeLessThanOrEqual(2);
    expect(seen.indexOf('quick:result')).toBeLessThan(6);
    expect(seen.at(-1)).toBe('chatty:result');
    expect(seen.filter((s) => s.endsWith(':result'))).toHaveLength(2);
  });

  it('keeps only the latest unread progress of an item for a client that reads slowly', async () => {
    const job = createJob();
    job.sent();
    job.running(Date.now());
    job.publish({ type: 'started', queuedMs: 0 });
    async function* requests(): AsyncGenerator<RunBatchRequest> {
      yield item('a');
    }
    const events = runBatch(requests(), { window: 1, start: () => job.follow(), onServerFault: () => {} });
    expect((await events.next()).value).toMatchObject({ id: 'a', started: {} });
    // The client reads nothing while the task reports ten times and ends.
    for (let i = 1; i <= 10; i++) job.publish({ type: 'progress', fraction: i / 10, message: String(i) });
    job.settle({ result: result('done') });
    const rest: RunBatchResponse[] = [];
    for await (const event of events) rest.push(event);
    expect(rest).toHaveLength(2);
    expect(rest[0]).toEqual({ id: 'a', progress: { fraction: 1, message: '10' } });
    expect(rest[1]?.result?.output).toBe('done');
  });

  it('turns an item refused after an await (a cacheable item being hashed) into a failure event', async () => {
    async function* requests(): AsyncGenerator<RunBatchRequest> {
      yield item('a');
    }
    const start = (): Promise<ItemSource> => Promise.reject(new OffloadError(Status.RESOURCE_EXHAUSTED, 'the queue is full'));
    const events: RunBatchResponse[] = [];
    for await (const event of runBatch(requests(), { window: 1, start, onServerFault: () => {} })) events.push(event);
    expect(events).toEqual([{ id: 'a', failure: { code: Status.RESOURCE_EXHAUSTED, message: 'the queue is full' } }]);
  });

  it('stops following every item in flight when the client stops reading', async () => {
    const jobs = [createJob(), createJob(), createJob()];
    async function* requests(): AsyncGenerator<RunBatchRequest> {
      for (let i = 0; i < jobs.length; i++) yield item(String(i));
      await new Promise(() => {}); // the client sends no more and does not half-close
    }
    const events = runBatch(requests(), { window: 3, start: (request) => jobs[Number(request.id)]!.follow(), onServerFault: () => {} });
    jobs[0]!.sent();
    jobs[0]!.running(Date.now());
    jobs[0]!.publish({ type: 'started', queuedMs: 0 });
    expect((await events.next()).value).toMatchObject({ id: '0', started: {} });
    await eventually(() => expect(jobs.map((job) => job.followers)).toEqual([1, 1, 1]));
    await events.return(undefined);
    expect(jobs.map((job) => job.followers)).toEqual([0, 0, 0]);
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
    const start = (): ItemSource => {
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
