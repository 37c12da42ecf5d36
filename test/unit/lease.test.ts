import { describe, expect, it, vi } from 'vitest';
import { Errors, OffloadError, Status } from '../../src/errors.js';
import type { TaskEvent } from '../../src/pool/follower.js';
import { callHolder, Lease, LeaseGroup } from '../../src/server/lease.js';
import { readWithHeartbeat } from '../../src/server/with-heartbeat.js';
import { createJob, result, succeed } from '../helpers/jobs.js';

/** A lease's events as a call reads them: stopping early closes the reader. */
const events = (lease: Lease) => readWithHeartbeat((onReadable) => lease.watch(onReadable), 60_000, () => undefined);
const tick = () => new Promise((resolve) => setImmediate(resolve));
const holder = () => {
  const controller = new AbortController();
  return { controller, holder: { signal: controller.signal } };
};

describe('a lease, a call\'s hold on a job', () => {
  it('cancels the job when its only holder stops reading early', async () => {
    const cancel = vi.fn();
    const job = createJob(cancel);
    const lease = new LeaseGroup(job).lease(false);
    job.sent();
    job.publish({ type: 'progress', fraction: 0.1, message: '' });
    for await (const event of events(lease)) {
      expect(event.type).toBe('progress');
      break;
    }
    expect(cancel).toHaveBeenCalledOnce();
    expect(job.cancelReason).toBe(Errors.callCancelled);
  });

  it('does not cancel a job that has already finished', async () => {
    const cancel = vi.fn();
    const job = createJob(cancel);
    const lease = new LeaseGroup(job).lease(false);
    succeed(job);
    for await (const _ of events(lease)) {
      // read to the end
    }
    expect(cancel).not.toHaveBeenCalled();
    expect(lease.state).toBe('succeeded');
  });

  it('lets go when its call ends before it has read a single event', () => {
    const cancel = vi.fn();
    const job = createJob(cancel);
    const { controller, holder: h } = holder();
    const lease = new LeaseGroup(job).lease(false, h);
    // Nothing reads it: the signal alone must release the lease.
    controller.abort(Errors.deadlinePassed);
    expect(cancel).toHaveBeenCalledWith(job, Errors.deadlinePassed);
    expect(lease.state).toBe('cancelled');
  });

  it('ends a holder that leaves with its own reason while the job goes on for the other, and the last one out cancels', async () => {
    const cancel = vi.fn();
    const job = createJob(cancel);
    const group = new LeaseGroup(job);
    const first = holder();
    const second = holder();
    const a = group.lease(false, first.holder);
    const b = group.lease(true, second.holder);
    const aResult = a.result();
    const bEvents: TaskEvent[] = [];
    const bReading = (async () => {
      for await (const event of events(b)) bEvents.push(event);
    })();
    job.sent();
    job.running(Date.now());
    await tick();
    first.controller.abort(Errors.deadlinePassed);
    await expect(aResult).rejects.toBe(Errors.deadlinePassed);
    expect(cancel).not.toHaveBeenCalled();
    expect(a.state).toBe('cancelled');
    expect(b.state).toBe('running');
    succeed(job, 42);
    await bReading;
    expect(bEvents.at(-1)).toEqual({ ...result(42), cached: true });
    expect(b.cached).toBe(true);
    // A holder of an ended job leaving changes nothing.
    second.controller.abort(Errors.callCancelled);
    expect(cancel).not.toHaveBeenCalled();
  });

  it('cancels a shared job only when its last holder leaves, with that holder\'s reason', async () => {
    const cancel = vi.fn();
    const job = createJob(cancel);
    const group = new LeaseGroup(job);
    const first = holder();
    const second = holder();
    const a = group.lease(false, first.holder);
    const b = group.lease(true, second.holder);
    const results = [a.result(), b.result()];
    first.controller.abort(Errors.callCancelled);
    expect(cancel).not.toHaveBeenCalled();
    const late = new OffloadError(Status.DEADLINE_EXCEEDED, 'late');
    second.controller.abort(late);
    expect(cancel).toHaveBeenCalledExactlyOnceWith(job, late);
    await expect(results[0]).rejects.toBe(Errors.callCancelled);
    await expect(results[1]).rejects.toBe(late);
  });

  it('refuses a holder whose call has already ended', () => {
    const { controller, holder: h } = holder();
    controller.abort(Errors.callCancelled);
    expect(() => new LeaseGroup(createJob()).lease(false, h)).toThrow(Errors.callCancelled);
  });

  it('keeps a released lease cancelled for its watchers, even after the job succeeds for others', async () => {
    const job = createJob();
    const group = new LeaseGroup(job);
    const submitted = group.lease(false);
    group.lease(true);
    submitted.release(Errors.callCancelled);
    succeed(job);
    expect(submitted.state).toBe('cancelled');
    expect(submitted.outcome).toEqual({ error: Errors.callCancelled });
    await expect(submitted.follow().next()).rejects.toBe(Errors.callCancelled);
  });

  it('answers a cached result as Started and the result marked cached, with the timings of the run that produced it', async () => {
    const cachedResult = { ...result('x'), queuedMs: 3, runMs: 70 };
    const lease = Lease.fromCache('primes', cachedResult);
    const seen: TaskEvent[] = [];
    for await (const event of events(lease)) seen.push(event);
    expect(seen).toEqual([{ type: 'started', queuedMs: 3 }, { ...cachedResult, cached: true }]);
    expect(await lease.result()).toBe(cachedResult);
    expect([lease.cached, lease.state, lease.task]).toEqual([true, 'succeeded', 'primes']);
  });
});

describe('a call holding many leases (RunBatch)', () => {
  it('releases every lease it still holds when its call ends, through one listener on the call signal', () => {
    const controller = new AbortController();
    const added = vi.spyOn(controller.signal, 'addEventListener');
    const reason = new OffloadError(Status.DEADLINE_EXCEEDED, 'the call ran out of time');
    const many = callHolder(controller.signal, () => reason);
    const jobs = [createJob(), createJob(), createJob()];
    const leases = jobs.map((job) => new LeaseGroup(job).lease(false, many));
    succeed(jobs[0]!);
    leases[0]!.release(Errors.callCancelled);
    controller.abort();
    expect(added).toHaveBeenCalledOnce();
    expect(jobs.map((job) => job.cancelReason)).toEqual([undefined, reason, reason]);
    expect(many.leases!.size).toBe(0);
  });
});
