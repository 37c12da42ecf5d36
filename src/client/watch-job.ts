/**
 * A watch that survives its stream: after UNAVAILABLE, a reset stream or an
 * end without the outcome, it re-attaches with backoff and goes on from where
 * it was. The server answers a re-attach with Started and the latest
 * progress again; the caller sees each only if it is news.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Errors, OffloadError, Status } from '../errors.js';
import type { WatchResponse } from '../gen/offload/v1/compute.js';
import type { RunEvent } from './events.js';
import { isResetStream } from './grpc-client.js';
import { fromWatchResponse } from './job-events.js';
import { backoffDelay, type Retry } from './retry-options.js';
import { toOffloadError } from './to-offload-error.js';

export interface WatchPlan {
  id: string;
  /** Opens one Watch stream on the job's replica. */
  open: (options: { signal?: AbortSignal; deadline?: Date }) => Promise<AsyncIterable<WatchResponse>>;
  /** `undefined`: a dropped stream fails the watch. */
  retry: Retry | undefined;
  signal?: AbortSignal | undefined;
  /** Ends the whole watch, every re-attach included. */
  deadline?: Date | undefined;
}

/**
 * Yields started (once), progress and the result, then ends; a job that
 * failed throws an OffloadError with its code after any earlier events, as
 * runStream does. Re-attaches count as retries: `retry.maxRetries` in a row
 * without an answer end the watch with the last error, while every stream
 * that answers starts the count again, so a long job survives any number of
 * separate drops.
 */
export async function* watchJob<Output>(plan: WatchPlan): AsyncGenerator<RunEvent<Output>, void, undefined> {
  const { id, retry, signal, deadline } = plan;
  let started = false;
  let latest: { fraction: number; message: string } | undefined;
  let failures = 0;
  for (let attempt = 0; ; attempt++) {
    const opened = await plan.open({ ...(signal ? { signal } : {}), ...(deadline ? { deadline } : {}) }).catch((error: unknown) => {
      throw toOffloadError(error);
    });
    const stream = opened[Symbol.asyncIterator]();
    // A re-attach opens with Started and the latest progress again: drop what the caller has already had.
    let replaying = attempt > 0;
    let dropped: { error: OffloadError; retryable: boolean } | undefined;
    try {
      while (!dropped) {
        const next = await stream.next().catch((error: unknown) => ({ error: toOffloadError(error) }));
        if ('error' in next) dropped = { error: next.error, retryable: !!retry && isDropped(next.error, retry) };
        else if (next.done) dropped = { error: Errors.watchEndedEarly(id), retryable: !!retry };
        else {
          const event = fromWatchResponse<Output>(next.value);
          if (!event) continue;
          failures = 0;
          if (event.type === 'failure') throw new OffloadError(event.code, event.message);
          if (event.type === 'started') {
            if (started) continue;
            started = true;
          }
          if (event.type === 'progress') {
            const repeated = replaying && latest?.fraction === event.fraction && latest.message === event.message;
            replaying = false;
            if (repeated) continue;
            latest = { fraction: event.fraction, message: event.message };
          }
          replaying = false;
          yield event;
          if (event.type === 'result') return;
        }
      }
    } finally {
      // Leaving early (the caller broke out) ends this stream only; the job goes on.
      await stream.return?.();
    }
    if (attempt > 0 && dropped.error.code === Status.NOT_FOUND) throw Errors.jobLost(id);
    if (!retry || !dropped.retryable || failures >= retry.maxRetries) throw dropped.error;
    const left = deadline ? Math.max(0, deadline.getTime() - Date.now()) : Infinity;
    // Past the deadline the next attempt fails at once with DEADLINE_EXCEEDED, as any call would.
    await sleep(Math.min(backoffDelay(failures++, retry), left), undefined, signal ? { signal } : {}).catch(() => {
      throw Errors.callCancelled;
    });
  }
}

function isDropped(error: OffloadError, retry: Retry): boolean {
  return retry.statuses.includes(error.code) || isResetStream(error.code, error.message);
}
