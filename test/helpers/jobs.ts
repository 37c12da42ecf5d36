/** Jobs made by hand, for tests of what reads them (followers, RunBatch): no pool behind them. */
import type { OffloadError } from '../../src/errors.js';
import type { ResultEvent } from '../../src/pool/follower.js';
import { Job } from '../../src/pool/job.js';

let nextId = 1;

/** A job in the queue; `cancel` is what the pool would be told when it is cancelled. */
export function createJob(cancel: (job: Job, reason: OffloadError) => void = () => {}): Job {
  const request = { task: 'echo', file: '/tasks/echo.js', input: null, data: new Uint8Array(0), handOverData: false, progress: true, runLimitMs: 0, call: undefined, item: undefined, job: undefined, priority: 'normal' as const, tenant: 'default', trace: undefined };
  return new Job(nextId++, request, Date.now(), { changed: () => {}, cancel, probe: () => {} });
}

export function result(output: unknown = null): ResultEvent {
  return { type: 'result', output, data: undefined, outputBytes: 0, queuedMs: 0, runMs: 0 };
}

/** Runs the job to its end with `output`, as the pool would: handed over, started, then the result. */
export function succeed(job: Job, output: unknown = null): void {
  if (job.state === 'queued') job.sent();
  job.running(Date.now());
  job.settle({ result: result(output) });
}
