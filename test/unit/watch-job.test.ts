/**
 * watchJob's re-attach rules, against scripted streams: what a dropped,
 * reset or early-ended stream looks like, without a server.
 */
import { ClientError } from 'nice-grpc';
import { describe, expect, it } from 'vitest';
import { watchJob } from '../../src/client/watch-job.js';
import { Errors, OffloadError, Status } from '../../src/errors.js';
import type { WatchResponse } from '../../src/gen/offload/v1/compute.js';
import { DEFAULT_RETRY } from '../../src/client/retry-options.js';
import type { RunEvent } from '../../src/index.js';

const WATCH = '/offload.v1.ComputeService/Watch';
const started: WatchResponse = { started: { queuedMs: 1 } };
const progress = (fraction: number): WatchResponse => ({ progress: { fraction, message: `at ${fraction}` } });
const result: WatchResponse = { result: { output: 'done', data: Buffer.alloc(0), queuedMs: 1, runMs: 2, cached: false } };
const reset = new ClientError(WATCH, Status.INTERNAL, 'Received RST_STREAM with code 2 triggered by internal client error: Protocol error');
const unavailable = new ClientError(WATCH, Status.UNAVAILABLE, 'Connection dropped');

/** One scripted stream per attempt: its messages, then the error it fails with (or none: it ends OK). */
type Script = { messages: WatchResponse[]; error?: Error }[];

function plan(script: Script, overrides: { retry?: typeof DEFAULT_RETRY | undefined; signal?: AbortSignal } = {}) {
  const attempts = { count: 0 };
  return {
    attempts,
    events: watchJob<unknown>({
      id: 'job-1',
      retry: 'retry' in overrides ? overrides.retry : { ...DEFAULT_RETRY, baseDelayMs: 1 },
      signal: overrides.signal,
      open: async () => {
        const step = script[attempts.count++];
        if (!step) throw new Error('more attempts than scripted');
        return (async function* () {
          yield* step.messages;
          if (step.error) throw step.error;
        })();
      },
    }),
  };
}

async function run(events: AsyncIterable<RunEvent<unknown>>): Promise<{ types: string[]; thrown: unknown }> {
  const types: string[] = [];
  try {
    for await (const event of events) types.push(event.type === 'progress' ? `progress ${event.fraction}` : event.type);
    return { types, thrown: undefined };
  } catch (thrown) {
    return { types, thrown };
  }
}

describe('watchJob', () => {
  it('re-attaches after a reset stream, and drops the replayed Started and latest progress', async () => {
    const { events, attempts } = plan([
      { messages: [started, progress(0.2)], error: reset },
      { messages: [started, progress(0.2), progress(0.4), result] },
    ]);
    expect(await run(events)).toEqual({ types: ['started', 'progress 0.2', 'progress 0.4', 'result'], thrown: undefined });
    expect(attempts.count).toBe(2);
  });

  it('passes on the latest progress of a re-attach when it moved on while detached', async () => {
    const { events } = plan([
      { messages: [started, progress(0.2)], error: unavailable },
      { messages: [started, progress(0.6), result] },
    ]);
    expect((await run(events)).types).toEqual(['started', 'progress 0.2', 'progress 0.6', 'result']);
  });

  it('re-attaches after a stream that ended OK without the outcome', async () => {
    const { events, attempts } = plan([{ messages: [started] }, { messages: [started, result] }]);
    expect((await run(events)).types).toEqual(['started', 'result']);
    expect(attempts.count).toBe(2);
  });

  it('throws a job failure as an OffloadError with its code after the events before it, without re-attaching', async () => {
    const { events, attempts } = plan([{ messages: [started, { failure: { code: Status.RESOURCE_EXHAUSTED, message: 'too big' } }] }]);
    const { types, thrown } = await run(events);
    expect(types).toEqual(['started']);
    expect(thrown).toEqual(new OffloadError(Status.RESOURCE_EXHAUSTED, 'too big'));
    expect(attempts.count).toBe(1);
  });

  it('says the job is gone when a re-attach answers NOT_FOUND, but passes on the server\'s NOT_FOUND for a first attach', async () => {
    const notFound = new ClientError(WATCH, Status.NOT_FOUND, Errors.unknownJob('job-1').message);
    const lost = await run(plan([{ messages: [started], error: unavailable }, { messages: [], error: notFound }]).events);
    expect(lost.thrown).toMatchObject({ code: Status.NOT_FOUND, message: Errors.jobLost('job-1').message });
    const never = await run(plan([{ messages: [], error: notFound }]).events);
    expect(never.thrown).toMatchObject({ code: Status.NOT_FOUND, message: Errors.unknownJob('job-1').message });
  });

  it('gives up after maxRetries drops in a row with no answer, with the last error', async () => {
    const retry = { ...DEFAULT_RETRY, baseDelayMs: 1, maxRetries: 2 };
    const { events, attempts } = plan(
      [
        { messages: [], error: unavailable },
        { messages: [], error: unavailable },
        { messages: [], error: reset },
      ],
      { retry },
    );
    expect(await run(events)).toMatchObject({ types: [], thrown: { code: Status.INTERNAL, message: reset.details } });
    expect(attempts.count).toBe(3);
  });

  it('counts drops afresh after every stream that answered, so a long job survives any number of them', async () => {
    const retry = { ...DEFAULT_RETRY, baseDelayMs: 1, maxRetries: 1 };
    const drops = [0.1, 0.2, 0.3, 0.4, 0.5].map((fraction) => ({ messages: [started, progress(fraction)], error: unavailable }));
    const { events, attempts } = plan([...drops, { messages: [started, result] }], { retry });
    expect((await run(events)).types).toEqual(['started', 'progress 0.1', 'progress 0.2', 'progress 0.3', 'progress 0.4', 'progress 0.5', 'result']);
    expect(attempts.count).toBe(6);
  });

  it('fails at the first drop when retries are off, and on a status that is not a drop', async () => {
    expect(await run(plan([{ messages: [started], error: unavailable }], { retry: undefined }).events)).toMatchObject({
      types: ['started'],
      thrown: { code: Status.UNAVAILABLE },
    });
    const denied = new ClientError(WATCH, Status.PERMISSION_DENIED, 'no');
    expect((await run(plan([{ messages: [], error: denied }]).events)).thrown).toMatchObject({ code: Status.PERMISSION_DENIED });
  });

  it('stops waiting to re-attach when its signal aborts, with CANCELLED', async () => {
    const controller = new AbortController();
    const retry = { ...DEFAULT_RETRY, baseDelayMs: 60_000, maxDelayMs: 60_000 };
    const { events, attempts } = plan([{ messages: [started], error: unavailable }], { retry, signal: controller.signal });
    const watching = run(events);
    // Without the signal, the watch would wait a minute before its second attempt.
    await Promise.resolve();
    controller.abort();
    expect(await watching).toMatchObject({ types: ['started'], thrown: Errors.callCancelled });
    expect(attempts.count).toBe(1);
  });
});
