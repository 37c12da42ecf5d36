import type { Progress, Started, TaskResult } from '../gen/offload/v1/compute.js';
import type { ResultEvent, TaskEvent } from '../pool/follower.js';

/** `cached`: the result was not computed for this request (the cache, or an identical request's run). */
export function toTaskResult(event: ResultEvent, cached = false): TaskResult {
  return {
    cached,
    output: event.output ?? null,
    data: event.data ? Buffer.from(event.data.buffer, event.data.byteOffset, event.data.byteLength) : Buffer.alloc(0),
    queuedMs: event.queuedMs,
    runMs: event.runMs,
  };
}

/** One task event as the oneof members of RunStreamResponse and RunBatchResponse. */
export function toEventFields(event: TaskEvent, cached = false): { started: Started } | { progress: Progress } | { result: TaskResult } {
  switch (event.type) {
    case 'started':
      return { started: { queuedMs: event.queuedMs } };
    case 'progress':
      return { progress: { fraction: event.fraction, message: event.message } };
    case 'result':
      return { result: toTaskResult(event, cached) };
  }
}
