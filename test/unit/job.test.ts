import { describe, expect, it, vi } from 'vitest';
import { Errors, OffloadError, Status } from '../../src/errors.js';
import type { TaskEvent } from '../../src/pool/follower.js';
import { createJob, result, succeed } from '../helpers/jobs.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('a job and its followers', () => {
  it('keeps only the latest unread progress for a follower, and never drops the result', async () => {
    const job = createJob();
    const follower = job.follow();
    job.sent();
    job.publish({ type: 'started', queuedMs: 2 });
    for (let i = 1; i <= 1000; i++) job.publish({ type: 'progress', fraction: i / 1000, message: `${i}` });
    succeed(job, 1);
    const events: TaskEvent[] = [];
    for await (const event of follower) events.push(event);
    expect(events).toEqual([{ type: 'started', queuedMs: 2 }, { type: 'progress', fraction: 1, message: '1000' }, result(1)]);
  });

  it('delivers events published while the follower waits', async () => {
    const job = createJob();
    const reading = (async () => {
      const seen: string[] = [];
      for await (const event of job.follow()) seen.push(event.type);
      return seen;
    })();
    await tick();
    job.sent();
    job.publish({ type: 'progress', fraction: 0.5, message: '' });
    await tick();
    succeed(job);
    expect(await reading).toEqual(['progress', 'result']);
  });

  it('throws the failure to the follower', async () => {
    const job = createJob();
    const follower = job.follow();
    job.settle({ error: new OffloadError(Status.NOT_FOUND, 'gone') });
    await expect(follower.result()).rejects.toMatchObject({ code: Status.NOT_FOUND, message: 'gone' });
    expect(job.state).toBe('failed');
  });

  it('gives two followers of one job each the outcome, each at its own pace', async () => {
    const job = createJob();
    const fast = job.follow();
    const slow = job.follow();
    const fastEvents: TaskEvent[] = [];
    const reading = (async () => {
      for await (const event of fast) fastEvents.push(event);
    })();
    job.sent();
    job.publish({ type: 'started', queuedMs: 1 });
    await tick();
    job.publish({ type: 'progress', fraction: 0.5, message: 'half' });
    await tick();
    succeed(job, 'done');
    await reading;
    expect(fastEvents.map((e) => e.type)).toEqual(['started', 'progress', 'result']);
    expect((await slow.result()).output).toBe('done');
    expect(job.followers).toBe(0);
  });

  it('lets a follower leave without cancelling the job', async () => {
    const cancel = vi.fn();
    const job = createJob(cancel);
    const leaving = job.follow();
    const staying = job.follow();
    job.sent();
    job.publish({ type: 'progress', fraction: 0.1, message: '' });
    for await (const event of leaving) {
      expect(event.type).toBe('progress');
      break;
    }
    expect(cancel).not.toHaveBeenCalled();
    expect(job.followers).toBe(1);
    succeed(job, 'still ran');
    expect((await staying.result()).output).toBe('still ran');
  });

  it('gives a follower that arrives late the start, the latest progress and the outcome', async () => {
    const job = createJob();
    job.sent();
    job.publish({ type: 'started', queuedMs: 3 });
    job.publish({ type: 'progress', fraction: 0.2, message: 'a' });
    job.publish({ type: 'progress', fraction: 0.9, message: 'b' });
    succeed(job, 7);
    const events: TaskEvent[] = [];
    for await (const event of job.follow()) events.push(event);
    expect(events).toEqual([{ type: 'started', queuedMs: 3 }, { type: 'progress', fraction: 0.9, message: 'b' }, result(7)]);
  });

  it('says Started once, however often the pool learns of it', async () => {
    const job = createJob();
    const follower = job.follow();
    job.sent();
    job.publish({ type: 'started', queuedMs: 1 });
    job.publish({ type: 'started', queuedMs: 1 });
    succeed(job);
    const types: string[] = [];
    for await (const event of follower) types.push(event.type);
    expect(types).toEqual(['started', 'result']);
  });

  it('is cancelled, not failed, when it ends after being asked to stop, and the first reason wins', () => {
    const cancel = vi.fn();
    const job = createJob(cancel);
    job.cancel(Errors.deadlinePassed);
    job.cancel(Errors.callCancelled);
    expect(cancel).toHaveBeenCalledOnce();
    job.settle({ error: job.cancelReason! });
    expect(job.state).toBe('cancelled');
    expect(job.outcome).toEqual({ error: Errors.deadlinePassed });
  });

  it('refuses a transition its table does not allow', () => {
    const job = createJob();
    expect(() => job.settle({ result: result() })).toThrow('job ' + job.id + ': no transition from queued to succeeded');
    job.sent();
    job.running(Date.now());
    job.settle({ result: result() });
    expect(() => job.requeued()).toThrow(/no transition from succeeded to queued/);
  });
});
