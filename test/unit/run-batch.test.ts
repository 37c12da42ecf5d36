import { describe, expect, it } from 'vitest';
import { OffloadError, Status } from '../../src/errors.js';
import type { RunBatchRequest, RunBatchResponse } from '../../src/gen/offload/v1/compute.js';
import type { TaskEvent } from '../../src/pool/follower.js';
import type { Job } from '../../src/pool/job.js';
import { createJob, succeed } from '../helpers/jobs.js';
import { runBatch } from '../../src/server/run-batch.js';

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
