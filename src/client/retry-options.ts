/**
 * Retry settings, shared by unary runs, job calls and the re-attaching watch,
 * and the one backoff formula they all follow.
 */
import { Status } from '../errors.js';

export interface RetryOptions {
  /** Retries after the first attempt; default 4. */
  maxRetries?: number;
  /** First backoff, doubled each time (with jitter); default 100. */
  baseDelayMs?: number;
  /** Longest backoff; default 5000. */
  maxDelayMs?: number;
  /** Default: UNAVAILABLE and RESOURCE_EXHAUSTED. */
  statuses?: Status[];
}

export type Retry = Required<RetryOptions>;

export const DEFAULT_RETRY: Retry = {
  maxRetries: 4,
  baseDelayMs: 100,
  maxDelayMs: 5000,
  statuses: [Status.UNAVAILABLE, Status.RESOURCE_EXHAUSTED],
};

export function resolveRetry(retry: RetryOptions | false | undefined): Retry | undefined {
  return retry === false ? undefined : { ...DEFAULT_RETRY, ...retry };
}

/** The options nice-grpc's retry middleware reads for one unary call. */
export function retryCallOptions(retry: Retry | undefined) {
  if (!retry) return { retry: false };
  return {
    retry: true,
    retryMaxAttempts: retry.maxRetries,
    retryBaseDelayMs: retry.baseDelayMs,
    retryMaxDelayMs: retry.maxDelayMs,
    retryableStatuses: retry.statuses,
  };
}

/**
 * The wait before retry number `attempt` (from 0): exponential, capped, with
 * "equal jitter" (half fixed, half random), as nice-grpc's retry middleware
 * waits, so a re-attaching watch backs off as a retried run does.
 */
export function backoffDelay(attempt: number, retry: Retry): number {
  const backoff = Math.min(retry.maxDelayMs, 2 ** attempt * retry.baseDelayMs);
  return Math.round((backoff * (1 + Math.random())) / 2);
}
